//! Property tests of configuration resolution: whatever the environment and the file say,
//! resolution ends in a configuration or a list of problems (exit 64), never a panic. Values
//! are drawn for real settings of every type (durations, sizes, rates, lists, enums, URLs,
//! booleans), plus arbitrary text, and the file layer gets arbitrary tables under real
//! section names.

use std::collections::HashMap;

use proptest::prelude::*;

use super::{Overrides, resolve};
use crate::props::config;

/// Settings of every kind the resolver parses.
const VARS: &[&str] = &[
    "MCPGATE_TRANSPORT",
    "MCPGATE_LISTEN",
    "MCPGATE_MCP_PATH",
    "MCPGATE_ALLOWED_HOSTS",
    "MCPGATE_ALLOWED_ORIGINS",
    "MCPGATE_CORS_ORIGINS",
    "MCPGATE_MAX_BODY_BYTES",
    "MCPGATE_SESSION_IDLE_TIMEOUT",
    "MCPGATE_MAX_SESSIONS",
    "MCPGATE_SESSION_STORE",
    "MCPGATE_SHUTDOWN_GRACE",
    "MCPGATE_PUBLIC_URL",
    "MCPGATE_TRUSTED_PROXIES",
    "MCPGATE_HSTS_MAX_AGE",
    "MCPGATE_DATABASE_URL",
    "MCPGATE_MODULES",
    "MCPGATE_DISABLED_TOOLS",
    "MCPGATE_AUTH",
    "MCPGATE_AUTH_TOKEN",
    "MCPGATE_JWT_SECRET",
    "MCPGATE_JWT_AUDIENCE",
    "MCPGATE_JWT_LEEWAY",
    "MCPGATE_RATE_LIMIT",
    "MCPGATE_RATE_LIMIT_BURST",
    "MCPGATE_RATE_LIMIT_ANONYMOUS",
    "MCPGATE_RATE_LIMIT_FAILURE",
    "MCPGATE_REDIS_URL",
    "MCPGATE_LOG_FORMAT",
    "MCPGATE_WORKSPACE_WRITE",
    "MCPGATE_MIN_BODY_RATE",
];

/// Values that look like settings, and values that do not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,6}(ms|s|m|h|d)?",
        "[0-9]{1,4}/(s|sec|min|m|h|hour|day)",
        "(true|false|on|off|yes|no|0|1)",
        "(http|https|postgres|sqlite|redis)://[a-z0-9.:@/-]{0,20}",
        "[a-z0-9.:*,/\\[\\] -]{0,24}",
        "-?[0-9]{1,25}",
        any::<String>(),
    ]
}

/// A TOML document under real section names with arbitrary keys and scalar values.
fn file() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(toml::Value::Integer),
        any::<bool>().prop_map(toml::Value::Boolean),
        value().prop_map(toml::Value::String),
        prop::collection::vec(value().prop_map(toml::Value::String), 0..3)
            .prop_map(toml::Value::Array),
    ];
    let keys = prop_oneof![
        Just("listen".to_owned()),
        Just("max_body_bytes".to_owned()),
        Just("mode".to_owned()),
        Just("per_subject".to_owned()),
        Just("enabled".to_owned()),
        "[a-z_]{1,12}",
    ];
    let section = prop::collection::btree_map(keys, scalar, 0..4);
    let sections = prop_oneof![
        Just("http"),
        Just("auth"),
        Just("rate_limit"),
        Just("store"),
        Just("modules"),
        Just("workspace"),
        Just("log"),
        Just("server"),
    ];
    prop::collection::btree_map(sections, section, 0..4).prop_map(|tables| {
        let table: toml::Table = tables
            .into_iter()
            .map(|(name, entries)| {
                let inner: toml::Table = entries.into_iter().collect();
                (name.to_owned(), toml::Value::Table(inner))
            })
            .collect();
        toml::to_string(&table).unwrap_or_default()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_environment_and_file_resolve_or_are_refused(
        vars in prop::collection::vec((prop::sample::select(VARS), value()), 0..8),
        text in prop::option::of(file()),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env: HashMap<String, String> = vars
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        env.insert("MCPGATE_DATA_DIR".into(), dir.path().display().to_string());
        if let Some(text) = text {
            let path = dir.path().join("mcpgate.toml");
            std::fs::write(&path, text).expect("write the file");
            env.insert("MCPGATE_CONFIG".into(), path.display().to_string());
        }
        let _ = resolve(&env, &Overrides::default());
    }
}
