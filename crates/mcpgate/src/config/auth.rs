//! Resolution of the authentication and authorization settings (the edge's [`AuthConfig`]): the
//! backend, static tokens, JWT validation, OAuth protected-resource metadata and per-tool rules.

use std::path::PathBuf;
use std::time::Duration;

use super::entries::{NamedToken, RuleSpec, TokenSpec};
use super::{HttpConfig, Layers};
use crate::edge::{AuthConfig, AuthMode, JwtSettings, ROLES, StaticToken, ToolRule};

/// Shortest static token accepted: guessable tokens are refused at start-up.
pub const MIN_TOKEN_LEN: usize = 16;

/// Largest clock leeway accepted for `exp` and `nbf`.
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Shortest HMAC secret accepted for JWTs (256 bits, RFC 7518 §3.2 for HS256).
pub const MIN_JWT_SECRET_LEN: usize = 32;

pub(super) fn resolve_auth(l: &mut Layers<'_>, http: &HttpConfig) -> AuthConfig {
    let mode = l.choice("auth.mode", "MCPGATE_AUTH", AuthMode::None, |s| match s {
        "none" => Ok(AuthMode::None),
        "dev" => Ok(AuthMode::Dev),
        "token" => Ok(AuthMode::Token),
        "jwt" => Ok(AuthMode::Jwt),
        "signed" => Ok(AuthMode::Signed),
        "mtls" => Ok(AuthMode::Certificate),
        other => Err(format!(
            "expected none, dev, token, jwt, signed or mtls, found {other:?}"
        )),
    });
    let default_subject: String = l.get_or(
        "auth.default_subject",
        "MCPGATE_DEFAULT_SUBJECT",
        "local".to_owned(),
    );
    let default_org: String = l.get_or(
        "auth.default_org",
        "MCPGATE_DEFAULT_ORG",
        "default".to_owned(),
    );
    let default_role: String = l.get_or(
        "auth.default_role",
        "MCPGATE_DEFAULT_ROLE",
        "admin".to_owned(),
    );
    for (key, var, value) in [
        (
            "auth.default_subject",
            "MCPGATE_DEFAULT_SUBJECT",
            &default_subject,
        ),
        ("auth.default_org", "MCPGATE_DEFAULT_ORG", &default_org),
    ] {
        if !crate::edge::is_identifier(value) {
            l.issue(
                key,
                Some(var),
                "expected 1-128 characters of letters, digits, '.', '_', '-' or '@'",
            );
        }
    }
    check_role(
        l,
        "auth.default_role",
        "MCPGATE_DEFAULT_ROLE",
        &default_role,
    );
    let tokens = resolve_tokens(l, &default_subject, &default_org, &default_role);
    if mode == AuthMode::Token && tokens.is_empty() {
        l.issue(
            "auth.mode (MCPGATE_AUTH)",
            None,
            "auth `token` needs a token: set MCPGATE_AUTH_TOKEN or add [[auth.tokens]] entries",
        );
    }
    let jwt = resolve_jwt(l, mode, http, &default_org);
    let rules = l.file_entries::<RuleSpec, ToolRule>("auth.rules");
    let required_scopes: Vec<String> = l.get_or(
        "auth.required_scopes",
        "MCPGATE_REQUIRED_SCOPES",
        Vec::new(),
    );
    let authorization_servers: Vec<String> = l.get_or(
        "auth.authorization_servers",
        "MCPGATE_AUTHORIZATION_SERVERS",
        jwt.issuer.iter().cloned().collect(),
    );
    for server in &authorization_servers {
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            l.issue(
                "auth.authorization_servers",
                Some("MCPGATE_AUTHORIZATION_SERVERS"),
                format!("expected an http(s) URL, found {server:?}"),
            );
        }
    }
    let mut named_scopes = required_scopes.clone();
    for rule in &rules {
        for scope in &rule.scopes {
            if !named_scopes.contains(scope) {
                named_scopes.push(scope.clone());
            }
        }
    }
    let scopes_supported = l.get_or(
        "auth.scopes_supported",
        "MCPGATE_SCOPES_SUPPORTED",
        named_scopes,
    );
    let signing_secrets: Vec<String> = l.get_or(
        "auth.signing_secrets",
        "MCPGATE_SIGNING_SECRETS",
        Vec::new(),
    );
    if signing_secrets
        .iter()
        .any(|s| s.len() < crate::edge::signed::MIN_SECRET_LEN)
    {
        l.issue(
            "auth.signing_secrets",
            Some("MCPGATE_SIGNING_SECRETS"),
            format!(
                "each signing secret needs at least {} characters",
                crate::edge::signed::MIN_SECRET_LEN
            ),
        );
    }
    if mode == AuthMode::Signed && signing_secrets.is_empty() {
        l.issue(
            "auth.mode (MCPGATE_AUTH)",
            None,
            "auth `signed` needs the secrets signatures are made with: set \
             MCPGATE_SIGNING_SECRETS (comma-separated, for a rotation)",
        );
    }
    AuthConfig {
        signing_secrets: crate::edge::SigningSecrets(signing_secrets),
        mode,
        default_subject,
        default_org,
        default_role,
        tokens,
        query_key: l.get_or("auth.query_key", "MCPGATE_AUTH_QUERY_KEY", false),
        jwt,
        required_scopes,
        authorization_servers,
        scopes_supported,
        rules,
    }
}

fn check_role(l: &mut Layers<'_>, key: &str, var: &str, role: &str) {
    if !ROLES.contains(&role) {
        l.issue(
            key,
            Some(var),
            format!("expected one of {}, found {role:?}", ROLES.join(", ")),
        );
    }
}

fn resolve_jwt(
    l: &mut Layers<'_>,
    mode: AuthMode,
    http: &HttpConfig,
    default_org: &str,
) -> JwtSettings {
    let secret: Option<String> = l.get("auth.jwt.secret", "MCPGATE_JWT_SECRET");
    if let Some(secret) = &secret
        && secret.len() < MIN_JWT_SECRET_LEN
    {
        l.issue(
            "auth.jwt.secret",
            Some("MCPGATE_JWT_SECRET"),
            format!("an HMAC secret must be at least {MIN_JWT_SECRET_LEN} bytes"),
        );
    }
    let jwks_url: Option<String> = l.get("auth.jwt.jwks_url", "MCPGATE_JWKS_URL");
    if let Some(url) = &jwks_url
        && !jwks_url_allowed(url)
    {
        l.issue(
            "auth.jwt.jwks_url",
            Some("MCPGATE_JWKS_URL"),
            "expected an https:// URL (http:// only on a loopback host)",
        );
    }
    let jwks_file: Option<String> = l.get("auth.jwt.jwks_file", "MCPGATE_JWKS_FILE");
    if mode == AuthMode::Jwt && secret.is_none() && jwks_url.is_none() && jwks_file.is_none() {
        l.issue(
            "auth.mode (MCPGATE_AUTH)",
            None,
            "auth `jwt` needs keys: set MCPGATE_JWT_SECRET, MCPGATE_JWKS_URL or MCPGATE_JWKS_FILE",
        );
    }
    let default_role: String = l.get_or(
        "auth.jwt.default_role",
        "MCPGATE_JWT_DEFAULT_ROLE",
        "viewer".to_owned(),
    );
    check_role(
        l,
        "auth.jwt.default_role",
        "MCPGATE_JWT_DEFAULT_ROLE",
        &default_role,
    );
    let max_token_bytes: usize =
        l.positive("auth.jwt.max_token_bytes", "MCPGATE_JWT_MAX_BYTES", 8192);
    let audience: Vec<String> = l.get_or(
        "auth.jwt.audience",
        "MCPGATE_JWT_AUDIENCE",
        vec![
            format!("{}{}", http.public_url, http.mcp_path),
            http.public_url.clone(),
        ],
    );
    if mode == AuthMode::Jwt && audience.is_empty() {
        l.issue(
            "auth.jwt.audience",
            Some("MCPGATE_JWT_AUDIENCE"),
            "must name at least one audience: without one, any token the key holder signs for \
             any service would be accepted",
        );
    }
    let leeway: Duration = l.get_or(
        "auth.jwt.leeway",
        "MCPGATE_JWT_LEEWAY",
        Duration::from_secs(30),
    );
    if leeway > MAX_LEEWAY {
        l.issue(
            "auth.jwt.leeway",
            Some("MCPGATE_JWT_LEEWAY"),
            "must be at most 5m",
        );
    }
    let jwks_refetch_cooldown: Duration = l.get_or(
        "auth.jwt.jwks_refetch_cooldown",
        "MCPGATE_JWKS_REFETCH_COOLDOWN",
        Duration::from_secs(30),
    );
    if jwks_refetch_cooldown < Duration::from_secs(1) {
        l.issue(
            "auth.jwt.jwks_refetch_cooldown",
            Some("MCPGATE_JWKS_REFETCH_COOLDOWN"),
            "must be at least 1s, so unknown key ids cannot make this server hammer the key server",
        );
    }
    JwtSettings {
        secret,
        jwks_url,
        jwks_file: jwks_file.map(PathBuf::from),
        issuer: l.get("auth.jwt.issuer", "MCPGATE_JWT_ISSUER"),
        audience,
        leeway,
        org_claim: l.get_or(
            "auth.jwt.org_claim",
            "MCPGATE_JWT_ORG_CLAIM",
            "org".to_owned(),
        ),
        roles_claim: l.get_or(
            "auth.jwt.roles_claim",
            "MCPGATE_JWT_ROLES_CLAIM",
            "roles".to_owned(),
        ),
        default_org: default_org.to_owned(),
        default_role,
        max_token_bytes,
        jwks_cache_ttl: l.positive(
            "auth.jwt.jwks_cache_ttl",
            "MCPGATE_JWKS_CACHE_TTL",
            Duration::from_secs(600),
        ),
        jwks_refetch_cooldown,
        ..JwtSettings::default()
    }
}

/// Keys are fetched over https, or over http from this machine only (the verifier's policy).
fn jwks_url_allowed(url: &str) -> bool {
    crate::edge::jwks_url_acceptable(url)
}

/// `MCPGATE_AUTH_TOKEN` (as the default principal) and the file's `[[auth.tokens]]` entries
/// (`name`, `token`, optional `org` and `role`). Names must be identifiers and unique; secrets
/// must be long enough and unique.
fn resolve_tokens(
    l: &mut Layers<'_>,
    default_subject: &str,
    default_org: &str,
    default_role: &str,
) -> Vec<StaticToken> {
    let mut tokens = Vec::new();
    if let Some(secret) = l.get::<String>("auth.token", "MCPGATE_AUTH_TOKEN") {
        tokens.push(StaticToken {
            name: default_subject.to_owned(),
            secret,
            org: default_org.to_owned(),
            role: default_role.to_owned(),
        });
    }
    for token in l.file_entries::<TokenSpec, NamedToken>("auth.tokens") {
        tokens.push(StaticToken {
            name: token.name,
            secret: token.secret,
            org: token.org.unwrap_or_else(|| default_org.to_owned()),
            role: token.role.unwrap_or_else(|| default_role.to_owned()),
        });
    }
    for (i, token) in tokens.iter().enumerate() {
        let key = format!("auth.tokens ({})", token.name);
        if !crate::edge::is_identifier(&token.name) || !crate::edge::is_identifier(&token.org) {
            l.issue(
                &key,
                None,
                "name and org must be 1-128 of letters, digits, '.', '_', '-' or '@'",
            );
        }
        if !ROLES.contains(&token.role.as_str()) {
            l.issue(
                &key,
                None,
                format!("role must be one of {}", ROLES.join(", ")),
            );
        }
        if token.secret.len() < MIN_TOKEN_LEN || token.secret.chars().any(char::is_whitespace) {
            l.issue(
                &key,
                None,
                format!("a token must be at least {MIN_TOKEN_LEN} characters without spaces"),
            );
        }
        if tokens[..i].iter().any(|t| t.name == token.name) {
            l.issue(&key, None, "two tokens have this name");
        }
        if tokens[..i].iter().any(|t| t.secret == token.secret) {
            l.issue(&key, None, "two tokens have the same secret");
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{env, with_file};
    use crate::config::{Overrides, resolve};
    use crate::edge::RuleEffect;

    #[test]
    fn jwt_needs_keys_and_a_long_secret_that_is_never_printed() {
        let e =
            resolve(&env(&[("MCPGATE_AUTH", "jwt")]), &Overrides::default()).expect_err("no keys");
        assert!(e.to_string().contains("MCPGATE_JWKS_URL"), "{e}");
        let e = resolve(
            &env(&[
                ("MCPGATE_AUTH", "jwt"),
                ("MCPGATE_JWT_SECRET", "short-secret"),
            ]),
            &Overrides::default(),
        )
        .expect_err("short secret");
        assert!(e.to_string().contains("at least 32"), "{e}");
        let e = resolve(
            &env(&[
                ("MCPGATE_AUTH", "jwt"),
                ("MCPGATE_JWKS_URL", "http://keys.example.com/jwks.json"),
            ]),
            &Overrides::default(),
        )
        .expect_err("plain http off loopback");
        assert!(e.to_string().contains("https://"), "{e}");
        let secret = "0123456789abcdef0123456789abcdef-hs";
        let c = resolve(
            &env(&[
                ("MCPGATE_AUTH", "jwt"),
                ("MCPGATE_JWT_SECRET", secret),
                ("MCPGATE_JWT_ISSUER", "https://issuer.example"),
                ("MCPGATE_JWT_AUDIENCE", "https://mcp.example/mcp"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(c.auth.mode, AuthMode::Jwt);
        assert_eq!(c.auth.authorization_servers, ["https://issuer.example"]);
        assert!(!format!("{c:?}").contains(secret));
        assert!(jwks_url_allowed("http://127.0.0.1:9999/jwks"));
        assert!(jwks_url_allowed("http://localhost/jwks"));
        assert!(!jwks_url_allowed("http://127.0.0.1.evil.example/jwks"));
    }

    #[test]
    fn jwt_needs_an_audience_a_sane_leeway_and_a_refetch_cooldown() {
        let secret = ("MCPGATE_JWT_SECRET", "0123456789abcdef0123456789abcdef-hs");
        let e = with_file(
            "[auth.jwt]\naudience = []\nleeway = \"10m\"\njwks_refetch_cooldown = \"0s\"\n",
            &[("MCPGATE_AUTH", "jwt"), secret],
        )
        .expect_err("invalid");
        let text = e.to_string();
        for needle in [
            "auth.jwt.audience",
            "auth.jwt.leeway",
            "auth.jwt.jwks_refetch_cooldown",
        ] {
            assert!(text.contains(needle), "{needle} missing: {text}");
        }
    }

    #[test]
    fn rules_are_read_from_the_file_and_checked() {
        let c = with_file(
            r#"
[[auth.rules]]
tools = ["delete_*"]
effect = "deny"
roles = ["editor"]

[[auth.rules]]
tools = ["create_*", "update_*"]
effect = "require"
scopes = ["workspace:write"]
"#,
            &[],
        )
        .expect("valid");
        assert_eq!(c.auth.rules.len(), 2);
        assert_eq!(c.auth.rules[0].effect, RuleEffect::Deny);
        assert_eq!(c.auth.scopes_supported, ["workspace:write"]);
        let e = with_file(
            "[[auth.rules]]\ntools = [\"x\"]\neffect = \"require\"\n\n[[auth.rules]]\neffect = \"allow\"\ntools = [\"y\"]\nroles = [\"root\"]\n",
            &[],
        )
        .expect_err("bad rules");
        let text = e.to_string();
        assert!(
            text.contains("auth.rules[0]") && text.contains("needs `scopes`"),
            "{text}"
        );
        assert!(
            text.contains("auth.rules[1]") && text.contains("root"),
            "{text}"
        );
    }

    #[test]
    fn token_auth_needs_a_long_unique_token_and_never_prints_it() {
        let e = resolve(&env(&[("MCPGATE_AUTH", "token")]), &Overrides::default())
            .expect_err("no token");
        assert!(e.to_string().contains("MCPGATE_AUTH_TOKEN"), "{e}");
        let e = resolve(
            &env(&[("MCPGATE_AUTH", "token"), ("MCPGATE_AUTH_TOKEN", "short")]),
            &Overrides::default(),
        )
        .expect_err("short token");
        assert!(e.to_string().contains("at least 16"), "{e}");
        assert!(
            !e.to_string().contains("short\""),
            "the secret is not echoed: {e}"
        );
        let c = resolve(
            &env(&[
                ("MCPGATE_AUTH", "token"),
                ("MCPGATE_AUTH_TOKEN", "a-long-enough-secret-value"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(c.auth.mode, AuthMode::Token);
        assert_eq!(c.auth.tokens.len(), 1);
        assert_eq!(c.auth.tokens[0].name, "local");
        let printed = format!("{c:?}");
        assert!(!printed.contains("a-long-enough-secret-value"), "{printed}");
    }
}
