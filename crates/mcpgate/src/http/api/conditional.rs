//! Conditional requests (RFC 9110 §13) over record versions.
//!
//! A record's entity tag is its version as a strong tag, `"<version>"` (`ETag: "3"`): the
//! version changes with every write, and the representation of one version never changes, so
//! the tag is strong and needs no hashing. `If-Match` carries the version a write expects (the
//! same number the MCP tools take as `version`); `If-None-Match` revalidates a cached read.

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use super::problem::{Problem, ProblemType};

/// The entity tag of version `version`: `"3"`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The entity tag of a rendered record (from its `version`).
pub fn record_etag(record: &Value) -> Option<HeaderValue> {
    record.get("version").and_then(Value::as_i64).map(etag)
}

/// What `If-Match` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No `If-Match` header.
    Absent,
    /// `If-Match: *` (any current version).
    Any,
    /// `If-Match: "<version>"`.
    Version(i64),
}

impl IfMatch {
    /// Read `If-Match`: absent, `*`, or exactly one strong tag naming a version.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Problem> {
        let mut values = headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else {
            return Ok(Self::Absent);
        };
        let malformed = || {
            Problem::new(
                ProblemType::BadRequest,
                "If-Match must be one strong entity tag naming a version, like \"3\" (the \
                 record's ETag), or *",
            )
        };
        if values.next().is_some() {
            return Err(malformed());
        }
        let text = value.to_str().map_err(|_| malformed())?.trim();
        if text == "*" {
            return Ok(Self::Any);
        }
        version_of(text).map(Self::Version).ok_or_else(malformed)
    }

    /// The version a replace or patch requires: a missing (or `*`) `If-Match` is a 428.
    pub fn required(self) -> Result<i64, Problem> {
        match self {
            Self::Version(v) => Ok(v),
            Self::Absent | Self::Any => Err(Problem::new(
                ProblemType::PreconditionRequired,
                "send the version you read as If-Match: \"<version>\" (the record's ETag), so a \
                 change made since is not overwritten",
            )),
        }
    }

    /// The version an optional precondition names (`*` names none: the record must exist,
    /// which it must anyway).
    pub fn optional(self) -> Option<i64> {
        match self {
            Self::Version(v) => Some(v),
            Self::Absent | Self::Any => None,
        }
    }
}

/// The version in a strong entity tag `"<n>"`, n a positive integer.
fn version_of(tag: &str) -> Option<i64> {
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok().filter(|v| *v >= 1)
}

/// Whether `If-None-Match` matches `current` (weak comparison, as RFC 9110 §13.1.2 asks): `*`,
/// or a list with `"<v>"` or `W/"<v>"` in it.
pub fn none_match(headers: &HeaderMap, current: &HeaderValue) -> bool {
    let Ok(current) = current.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name.clone(), HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn if_match_takes_one_strong_version() {
        let read = |v: &[&str]| IfMatch::from_headers(&headers(header::IF_MATCH, v));
        assert_eq!(read(&[]).expect("absent"), IfMatch::Absent);
        assert_eq!(read(&["*"]).expect("any"), IfMatch::Any);
        assert_eq!(read(&["\"3\""]).expect("v3"), IfMatch::Version(3));
        assert_eq!(read(&[" \"12\" "]).expect("v12"), IfMatch::Version(12));
        for bad in [
            "3",
            "W/\"3\"",
            "\"0\"",
            "\"-1\"",
            "\"x\"",
            "\"3\", \"4\"",
            "\"\"",
        ] {
            assert!(read(&[bad]).is_err(), "{bad} accepted");
        }
        assert!(read(&["\"3\"", "\"4\""]).is_err());
        assert!(IfMatch::Absent.required().is_err());
        assert!(IfMatch::Any.required().is_err());
        assert_eq!(IfMatch::Version(2).required().expect("v2"), 2);
        assert_eq!(IfMatch::Any.optional(), None);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let current = etag(4);
        assert_eq!(current, "\"4\"");
        for hit in ["\"4\"", "W/\"4\"", "\"1\", \"4\"", "*"] {
            assert!(
                none_match(&headers(header::IF_NONE_MATCH, &[hit]), &current),
                "{hit}"
            );
        }
        for miss in ["\"3\"", "\"44\"", "4"] {
            assert!(
                !none_match(&headers(header::IF_NONE_MATCH, &[miss]), &current),
                "{miss}"
            );
        }
        assert!(!none_match(&HeaderMap::new(), &current));
    }
}
