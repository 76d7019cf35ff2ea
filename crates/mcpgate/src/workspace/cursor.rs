//! Opaque page cursors. A list cursor carries the sort key and ID of the last record returned
//! (keyset pagination: stable while others insert) and the query it belongs to; a search
//! cursor carries the window it is in and the rank key of the last hit returned (see
//! [`super::search`]), and its query. Both are base64url JSON, so a cursor from one query
//! cannot silently page through another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::record::After;
use super::search::RankKey;

/// Where the next page of a list starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListCursor {
    /// The query the cursor belongs to (kind, filters, sort), canonicalized.
    pub q: String,
    /// The last record returned.
    pub after: After,
}

/// Where the next page of search hits starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// The search words.
    pub q: String,
    /// The window: matches inserted before this `seq` (`None`: the newest).
    pub before: Option<i64>,
    /// The last hit returned in that window (`None`: the window's best first).
    pub after: Option<RankKey>,
}

/// Encode a cursor.
pub fn encode<T: Serialize>(cursor: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

/// Decode a cursor this server minted; `None` for anything else.
pub fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::record::SortKey;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = ListCursor {
            q: "task|".into(),
            after: After {
                key: SortKey::Micros(17),
                id: "task_1".into(),
            },
        };
        assert_eq!(decode::<ListCursor>(&encode(&c)), Some(c));
        assert_eq!(decode::<ListCursor>("not a cursor"), None);
        assert_eq!(decode::<SearchCursor>(&encode(&"x")), None);
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
        fn search_cursors_round_trip(
            q in any::<String>(),
            before in any::<Option<i64>>(),
            after in any::<Option<(i64, i64)>>(),
        ) {
            let after = after.map(|(score, seq)| RankKey { score, seq });
            let cursor = SearchCursor { q, before, after };
            prop_assert_eq!(decode::<SearchCursor>(&encode(&cursor)), Some(cursor));
        }

        /// Caller-supplied cursors, including base64 of arbitrary JSON, decode or are refused.
        #[test]
        fn any_cursor_text_decodes_or_is_refused(
            text in any::<String>(),
            json in crate::props::json_value(),
        ) {
            let _ = decode::<ListCursor>(&text);
            let _ = decode::<SearchCursor>(&text);
            let forged = encode(&json);
            let _ = decode::<ListCursor>(&forged);
            let _ = decode::<SearchCursor>(&forged);
        }
    }
}
