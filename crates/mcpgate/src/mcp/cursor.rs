//! Opaque pagination cursors. A cursor encodes an offset into the caller's filtered list; the
//! encoding is private, and anything that does not decode is an invalid-params error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const PREFIX: &str = "mcpgate.v1.";

/// A decoded cursor: where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Index of the first item of the page.
    pub offset: usize,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}", self.offset))
    }

    /// Decode a cursor; `None` for anything this server did not mint. An empty cursor is the
    /// first page.
    pub fn decode(text: &str) -> Option<Self> {
        if text.is_empty() {
            return Some(Self { offset: 0 });
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let offset = text.strip_prefix(PREFIX)?.parse().ok()?;
        Some(Self { offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_fail() {
        let c = Cursor { offset: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode(""), Some(Cursor { offset: 0 }));
        assert_eq!(Cursor::decode("42"), None);
        assert_eq!(Cursor::decode("bm9wZQ"), None);
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
        fn cursors_round_trip(offset in any::<usize>()) {
            prop_assert_eq!(Cursor::decode(&Cursor { offset }.encode()), Some(Cursor { offset }));
        }

        #[test]
        fn any_text_decodes_or_is_refused_without_panic(text in any::<String>()) {
            let _ = Cursor::decode(&text);
        }
    }
}
