//! JSON whose objects name each member once. A JWT header or payload that repeats a member is
//! ambiguous (RFC 7515 §5.2 and RFC 7519 §4 let a parser refuse it or take the last): serde
//! keeps the last value of a claim read into a map but refuses a repeated field of a struct, so
//! a repeated `org` would win while a repeated `exp` fails. Every repeat is refused instead,
//! before anything else reads the segment, at every depth.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether `json` is JSON in which no object repeats a member name (names compared after
/// their escapes are decoded).
pub(super) fn members_are_distinct(json: &[u8]) -> bool {
    serde_json::from_slice::<Distinct>(json).is_ok()
}

/// Any JSON value, read only to check that its objects repeat no member.
struct Distinct;

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DistinctVisitor)
    }
}

struct DistinctVisitor;

impl<'de> Visitor<'de> for DistinctVisitor {
    type Value = Distinct;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON whose objects name each member once")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Distinct, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(de::Error::custom("a member is repeated"));
            }
            map.next_value::<Distinct>()?;
        }
        Ok(Distinct)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Distinct, A::Error> {
        while seq.next_element::<Distinct>()?.is_some() {}
        Ok(Distinct)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Distinct, E> {
        Ok(Distinct)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Distinct, E> {
        Ok(Distinct)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Distinct, E> {
        Ok(Distinct)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Distinct, E> {
        Ok(Distinct)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Distinct, E> {
        Ok(Distinct)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Distinct, E> {
        Ok(Distinct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_member_is_refused_at_any_depth() {
        for ok in [
            r#"{"sub":"ann","org":"acme","roles":["viewer"],"exp":1}"#,
            r#"{"a":{"b":1,"c":[{"b":2},{"b":3}]},"b":null,"c":1.5,"d":true}"#,
            r#"[1,"two",{"x":1}]"#,
        ] {
            assert!(members_are_distinct(ok.as_bytes()), "{ok}");
        }
        for repeated in [
            r#"{"org":"acme","org":"evil"}"#,
            r#"{"exp":1,"sub":"a","exp":2}"#,
            r#"{"roles":["viewer"],"roles":["admin"]}"#,
            r#"{"org":"acme","\u006frg":"evil"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"[{"k":1,"k":1}]"#,
        ] {
            assert!(!members_are_distinct(repeated.as_bytes()), "{repeated}");
        }
        assert!(!members_are_distinct(b"{not json"));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::props::{config, json_value, jsonish_bytes};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_are_judged_without_panic(bytes in jsonish_bytes()) {
            let _ = members_are_distinct(&bytes);
        }

        /// serde_json's own maps cannot hold a repeated key, so whatever they print is distinct.
        #[test]
        fn printed_json_is_distinct(value in json_value()) {
            let text = serde_json::to_vec(&value).expect("serializable");
            prop_assert!(members_are_distinct(&text));
        }
    }
}
