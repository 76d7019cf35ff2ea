//! Opaque pagination cursors. A cursor names the sort key of the last item of the page it
//! ended; the next page starts after that key, so items added or removed between pages never
//! make one present throughout repeat or go missing. The encoding is private, and anything that
//! does not decode is an invalid-params error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "mcpgate.v2.";

/// A decoded cursor: the page starts after the item with this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last listed item's key: its source's rank, then its ordinal.
    pub after: (u64, u64),
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(self) -> String {
        let (rank, ordinal) = self.after;
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{rank}.{ordinal}"))
    }

    /// Decode a cursor; `None` for anything this server did not mint, `Some(None)` for an empty
    /// cursor (the first page).
    pub fn decode(text: &str) -> Option<Option<Self>> {
        if text.is_empty() {
            return Some(None);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (rank, ordinal) = text.strip_prefix(PREFIX)?.split_once('.')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some(Some(Self {
            after: (number(rank)?, number(ordinal)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_fail() {
        let c = Cursor { after: (2, 42) };
        assert_eq!(Cursor::decode(&c.encode()), Some(Some(c)));
        assert_eq!(Cursor::decode(""), Some(None));
        assert_eq!(Cursor::decode("42"), None);
        assert_eq!(Cursor::decode("bm9wZQ"), None);
        let old = URL_SAFE_NO_PAD.encode("mcpgate.v1.10");
        assert_eq!(Cursor::decode(&old), None, "offset cursors are refused");
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::props::config;

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn cursors_round_trip(rank in any::<u64>(), ordinal in any::<u64>()) {
            let c = Cursor { after: (rank, ordinal) };
            prop_assert_eq!(Cursor::decode(&c.encode()), Some(Some(c)));
        }

        #[test]
        fn any_text_decodes_or_is_refused_without_panic(text in any::<String>()) {
            let _ = Cursor::decode(&text);
        }
    }
}
