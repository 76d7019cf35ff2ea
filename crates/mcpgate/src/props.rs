//! Shared pieces of the property tests (test builds only): the case budget, and strategies for
//! the inputs an attacker controls — arbitrary JSON and text that looks almost right.
//!
//! Every property test runs a fixed number of cases ([`config`]) so CI time is bounded and the
//! same on every run; a failing input proptest finds is written under `proptest-regressions/`
//! beside the test and replayed first from then on (commit those files).

use proptest::prelude::*;
use serde_json::Value;

/// Cases per property: enough to find shallow panics, bounded for two busy CI cores.
pub const CASES: u32 = 256;

/// The configuration every property test uses.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with strings that include escapes and odd characters.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z/_]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_/]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes that are mostly JSON-ish: braces, quotes, escapes, digits and a few raw bytes.
pub fn jsonish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"{}[]\":,\\u0123456789abcdefnrtl -.eE".to_vec()),
            1 => any::<u8>(),
        ],
        0..256,
    )
}
