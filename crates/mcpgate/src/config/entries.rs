//! The file's arrays of tables: `[[auth.tokens]]`, `[[auth.rules]]` and `[[rate_limit.tools]]`.
//!
//! Each entry is read into a spec as written (serde, every field optional, unknown keys refused)
//! and becomes its setting through `TryFrom`, which checks it. [`Layers::file_entries`] does
//! both for every entry and records each failure as one problem named by the entry's place
//! (`auth.rules[1]`), so one run still reports them all.
//!
//! [`Layers::file_entries`]: super::Layers::file_entries

use serde::Deserialize;

use crate::edge::{Quota, ROLES, RuleEffect, ToolQuota, ToolRule};

/// One `[[auth.tokens]]` entry as written: `name`, `token`, optional `org` and `role`.
///
/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenSpec {
    name: Option<String>,
    /// Left untyped so that a secret written as something other than a string is refused
    /// without being quoted back in the error.
    token: Option<toml::Value>,
    org: Option<String>,
    role: Option<String>,
}

/// A named static token from the file. Its org and role, when absent, are the default
/// principal's; the checks every token gets (names, roles, lengths, uniqueness) happen once all
/// tokens are known.
pub(super) struct NamedToken {
    /// The caller's name.
    pub name: String,
    /// The secret.
    pub secret: String,
    /// The caller's org, if the entry names one.
    pub org: Option<String>,
    /// The caller's role, if the entry names one.
    pub role: Option<String>,
}

impl TryFrom<TokenSpec> for NamedToken {
    type Error = String;

    fn try_from(spec: TokenSpec) -> Result<Self, String> {
        let secret = spec.token.as_ref().and_then(toml::Value::as_str);
        let (Some(name), Some(secret)) = (spec.name, secret) else {
            return Err("needs `name` and `token` strings".into());
        };
        Ok(NamedToken {
            name,
            secret: secret.to_owned(),
            org: spec.org,
            role: spec.role,
        })
    }
}

/// One `[[auth.rules]]` entry as written: `tools` (required), `effect` (`allow`, `deny` or
/// `require`; required), `roles`, `scopes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleSpec {
    tools: Option<Vec<String>>,
    effect: Option<String>,
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
}

impl TryFrom<RuleSpec> for ToolRule {
    type Error = String;

    fn try_from(spec: RuleSpec) -> Result<Self, String> {
        let tools = spec.tools.unwrap_or_default();
        if tools.is_empty() {
            return Err("needs `tools`, a list of tool names or patterns".into());
        }
        let effect = match spec.effect.as_deref() {
            Some("allow") => RuleEffect::Allow,
            Some("deny") => RuleEffect::Deny,
            Some("require") => RuleEffect::Require,
            _ => return Err("needs `effect`: \"allow\", \"deny\" or \"require\"".into()),
        };
        let roles = spec.roles.unwrap_or_default();
        if let Some(role) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
            return Err(format!(
                "unknown role {role:?}; roles are {}",
                ROLES.join(", ")
            ));
        }
        let scopes = spec.scopes.unwrap_or_default();
        if effect == RuleEffect::Require && scopes.is_empty() {
            return Err("a `require` rule needs `scopes`".into());
        }
        Ok(ToolRule {
            tools,
            effect,
            roles,
            scopes,
        })
    }
}

/// One `[[rate_limit.tools]]` entry as written: `tools` and `rate` (required), `burst`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ToolQuotaSpec {
    tools: Option<Vec<String>>,
    rate: Option<String>,
    burst: Option<i64>,
}

impl TryFrom<ToolQuotaSpec> for ToolQuota {
    type Error = String;

    fn try_from(spec: ToolQuotaSpec) -> Result<Self, String> {
        let tools = spec.tools.unwrap_or_default();
        if tools.is_empty() {
            return Err("needs `tools`, a list of tool names or patterns".into());
        }
        let rate = spec.rate.ok_or("needs `rate`, such as \"10/min\"")?;
        let mut quota = Quota::parse(&rate)?;
        if let Some(burst) = spec.burst {
            let burst = u32::try_from(burst)
                .ok()
                .filter(|b| *b > 0)
                .ok_or("`burst` must be a whole number greater than zero")?;
            quota = quota.with_burst(burst);
        }
        Ok(ToolQuota { tools, quota })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::with_file;

    #[test]
    fn unknown_keys_and_wrong_types_are_problems_named_by_entry() {
        let e = with_file(
            "[[auth.rules]]\ntools = [\"x\"]\neffect = \"deny\"\nrole = [\"viewer\"]\n\n\
             [[rate_limit.tools]]\ntools = \"x\"\nrate = \"1/s\"\n\n\
             [[auth.tokens]]\nname = \"bot\"\ntoken = 1234567890123456789\n",
            &[],
        )
        .expect_err("invalid");
        let text = e.to_string();
        assert!(
            text.contains("auth.rules[0]: unknown field `role`"),
            "{text}"
        );
        assert!(
            text.contains(
                "rate_limit.tools[0]: invalid type: string \"x\", expected a sequence in `tools`"
            ),
            "{text}"
        );
        assert!(
            text.contains("auth.tokens[0]: needs `name` and `token` strings"),
            "{text}"
        );
        assert!(!text.contains("1234567890123456789"), "{text}");
    }
}
