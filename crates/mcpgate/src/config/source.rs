//! Where setting values come from: the TOML file and the environment.
//!
//! Resolution reads every setting through [`Layers`], which applies the precedence
//! (default < file < environment < command line) and collects every problem instead of
//! stopping at the first, so one run of `mcpgate config check` lists all of them.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigIssue;

/// A source of environment variables. The process environment in production; a map in tests,
/// so tests never mutate the process environment.
pub trait EnvSource {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvSource for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

/// A value type that a setting can hold, parsed from TOML or from an environment string.
pub trait SettingValue: Sized {
    /// Parse from a TOML value.
    fn from_toml(value: &toml::Value) -> Result<Self, String>;
    /// Parse from an environment variable's text.
    fn from_env(text: &str) -> Result<Self, String>;
}

impl SettingValue for String {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("expected a string, found {}", value.type_str()))
    }
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl SettingValue for bool {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        value
            .as_bool()
            .ok_or_else(|| format!("expected true or false, found {}", value.type_str()))
    }
    fn from_env(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(format!("expected true or false, found {other:?}")),
        }
    }
}

macro_rules! integer_setting {
    ($($t:ty),*) => {$(
        impl SettingValue for $t {
            fn from_toml(value: &toml::Value) -> Result<Self, String> {
                let n = value
                    .as_integer()
                    .ok_or_else(|| format!("expected a whole number, found {}", value.type_str()))?;
                <$t>::try_from(n).map_err(|_| format!("{n} is out of range"))
            }
            fn from_env(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse::<$t>()
                    .map_err(|_| format!("expected a whole number, found {text:?}"))
            }
        }
    )*};
}
integer_setting!(u16, u32, u64, usize);

/// Durations are written like `30s`, `250ms` or `5m`; a bare TOML integer means seconds.
impl SettingValue for Duration {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Integer(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
            toml::Value::String(s) => Self::from_env(s),
            other => Err(format!(
                "expected a duration such as \"30s\", found {}",
                other.type_str()
            )),
        }
    }
    fn from_env(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map_err(|e| format!("expected a duration such as \"30s\" or \"250ms\": {e}"))
    }
}

impl SettingValue for SocketAddr {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        Self::from_env(&String::from_toml(value)?)
    }
    fn from_env(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| {
            format!("expected an address such as 127.0.0.1:8080 or [::1]:8080, found {text:?}")
        })
    }
}

/// Lists are TOML arrays of strings, or comma-separated in the environment.
impl SettingValue for Vec<String> {
    fn from_toml(value: &toml::Value) -> Result<Self, String> {
        let items = value
            .as_array()
            .ok_or_else(|| format!("expected a list of strings, found {}", value.type_str()))?;
        items.iter().map(String::from_toml).collect()
    }
    fn from_env(text: &str) -> Result<Self, String> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// Reads settings through the layers and remembers every problem found.
pub struct Layers<'a> {
    file: Option<&'a toml::Table>,
    env: &'a dyn EnvSource,
    read_keys: BTreeSet<String>,
    issues: Vec<ConfigIssue>,
}

impl<'a> Layers<'a> {
    /// Layers over an optional parsed file and an environment.
    pub fn new(file: Option<&'a toml::Table>, env: &'a dyn EnvSource) -> Self {
        Self {
            file,
            env,
            read_keys: BTreeSet::new(),
            issues: Vec::new(),
        }
    }

    /// The raw environment value of `var`, for settings that need it (such as `MCPGATE_CONFIG`).
    pub fn env_var(&self, var: &str) -> Option<String> {
        self.env.var(var).filter(|v| !v.is_empty())
    }

    /// The value of the setting `key` (a dotted TOML path such as `http.listen`), overridden by
    /// the environment variable `var`; `None` when neither sets it or the value is bad (the
    /// problem is recorded).
    pub fn get<T: SettingValue>(&mut self, key: &str, var: &str) -> Option<T> {
        self.read_keys.insert(key.to_owned());
        if let Some(text) = self.env_var(var) {
            return match T::from_env(&text) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.issue(key, Some(var), e);
                    None
                }
            };
        }
        let value = self.file_value(key)?;
        match T::from_toml(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.issue(key, Some(var), e);
                None
            }
        }
    }

    /// Like [`Layers::get`], with a default.
    pub fn get_or<T: SettingValue>(&mut self, key: &str, var: &str, default: T) -> T {
        self.get(key, var).unwrap_or(default)
    }

    /// A setting whose text must be one of a few words, each mapped by `parse`.
    pub fn choice<T>(
        &mut self,
        key: &str,
        var: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        match self.get::<String>(key, var) {
            Some(text) => parse(text.trim()).unwrap_or_else(|e| {
                self.issue(key, Some(var), e);
                default
            }),
            None => default,
        }
    }

    /// A setting that must be greater than zero (a size, a count, an interval).
    pub fn positive<T: SettingValue + PartialOrd + Default + Copy>(
        &mut self,
        key: &str,
        var: &str,
        default: T,
    ) -> T {
        let value = self.get_or(key, var, default);
        if value > T::default() {
            value
        } else {
            self.issue(key, Some(var), "must be greater than zero");
            default
        }
    }

    /// A setting that only the file can hold (tables of named entries and the like).
    pub fn file_only(&mut self, key: &str) -> Option<&'a toml::Value> {
        self.read_keys.insert(key.to_owned());
        self.file_value(key)
    }

    /// The entries of an array of tables only the file can hold (`[[auth.tokens]]` and the
    /// like), each with its name for problems (`auth.tokens[0]`). Anything but an array is a
    /// problem, and no entries.
    pub fn file_tables(&mut self, key: &str) -> Vec<(String, &'a toml::Value)> {
        let Some(value) = self.file_only(key) else {
            return Vec::new();
        };
        let Some(entries) = value.as_array() else {
            self.issue(
                key,
                None,
                format!("expected an array of tables ([[{key}]])"),
            );
            return Vec::new();
        };
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| (format!("{key}[{i}]"), entry))
            .collect()
    }

    /// The entries of an array of tables only the file can hold, each read into `Spec` (whose
    /// serde shape refuses unknown keys) and converted to `T`. Each entry that fails is one
    /// problem named by its place (`auth.rules[1]`); the others are kept.
    pub fn file_entries<Spec, T>(&mut self, key: &str) -> Vec<T>
    where
        Spec: serde::de::DeserializeOwned,
        T: TryFrom<Spec, Error = String>,
    {
        let mut out = Vec::new();
        for (name, entry) in self.file_tables(key) {
            let converted = match entry {
                toml::Value::Table(_) => entry
                    .clone()
                    .try_into::<Spec>()
                    // "invalid type: .., expected ..", then "in `key`" on its own line.
                    .map_err(|e| e.to_string().trim().replace('\n', " "))
                    .and_then(T::try_from),
                _ => Err("expected a table".to_owned()),
            };
            match converted {
                Ok(value) => out.push(value),
                Err(message) => self.issue(&name, None, message),
            }
        }
        out
    }

    fn file_value(&self, key: &str) -> Option<&'a toml::Value> {
        let mut table = self.file?;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = table.get(part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            table = value.as_table()?;
        }
        None
    }

    /// Record a problem with a setting.
    pub fn issue(&mut self, key: &str, var: Option<&str>, message: impl Into<String>) {
        let setting = match var {
            Some(var) => format!("{key} ({var})"),
            None => key.to_owned(),
        };
        self.issues.push(ConfigIssue {
            setting,
            message: message.into(),
        });
    }

    /// Report keys in the file that no setting read, then hand back every problem found.
    pub fn finish(mut self) -> Vec<ConfigIssue> {
        if let Some(file) = self.file {
            let mut unknown = Vec::new();
            collect_unknown(file, "", &self.read_keys, &mut unknown);
            for key in unknown {
                self.issue(&key, None, "unknown setting");
            }
        }
        self.issues
    }
}

fn collect_unknown(
    table: &toml::Table,
    prefix: &str,
    known: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if known.contains(&key) {
            continue;
        }
        let is_section = known.iter().any(|k| k.starts_with(&format!("{key}.")));
        match value.as_table() {
            Some(inner) if is_section => collect_unknown(inner, &key, known, out),
            _ => out.push(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_file_and_lists_split_on_commas() {
        let file: toml::Table = toml::from_str("[http]\nlisten = \"127.0.0.1:1\"\n").expect("toml");
        let env: HashMap<&str, &str> = [("MCPGATE_LISTEN", "127.0.0.1:2"), ("L", "a, b,,c")].into();
        let mut layers = Layers::new(Some(&file), &env);
        let addr: SocketAddr = layers.get("http.listen", "MCPGATE_LISTEN").expect("set");
        assert_eq!(addr.port(), 2);
        let list: Vec<String> = layers.get("x.list", "L").expect("set");
        assert_eq!(list, ["a", "b", "c"]);
        assert!(layers.finish().is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_setting() {
        let file: toml::Table =
            toml::from_str("[http]\nlisten = 5\ntypo = 1\n[nosuch]\na = 1\n").expect("toml");
        let env: HashMap<&str, &str> = [("MCPGATE_GRACE", "soon")].into();
        let mut layers = Layers::new(Some(&file), &env);
        let _: Option<SocketAddr> = layers.get("http.listen", "MCPGATE_LISTEN");
        let _: Option<Duration> = layers.get("server.grace", "MCPGATE_GRACE");
        let issues = layers.finish();
        let settings: Vec<&str> = issues.iter().map(|i| i.setting.as_str()).collect();
        assert_eq!(
            settings,
            [
                "http.listen (MCPGATE_LISTEN)",
                "server.grace (MCPGATE_GRACE)",
                "http.typo",
                "nosuch"
            ]
        );
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(
            Duration::from_env("250ms").expect("parse"),
            Duration::from_millis(250)
        );
        assert_eq!(
            Duration::from_toml(&toml::Value::Integer(3)).expect("parse"),
            Duration::from_secs(3)
        );
        assert!(Duration::from_env("fast").is_err());
    }
}
