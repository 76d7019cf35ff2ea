//! `[[upstreams]]`: the MCP servers federated behind this one (file only). Each entry is read
//! into a spec as written (unknown keys refused) and checked by `TryFrom`; names must be
//! unique. Every problem is reported in the same run as the rest of the configuration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Layers;
use crate::edge::is_identifier;
use crate::upstream::oauth::{AuthMethod, Grant, OAuthConfig, SharedClient};
use crate::upstream::{
    Allowlist, BreakerPolicy, Isolation, Pinning, RetryPolicy, SecretSource, ToolOverride,
    UpstreamConfig, UpstreamProtocol, UpstreamTransport,
};

/// How long connecting, listing and each call may take when the entry does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions per upstream when the entry does not say.
const DEFAULT_POOL_SIZE: usize = 2;
/// The most sessions an entry may ask for.
const MAX_POOL_SIZE: usize = 64;
/// Callers' session sets kept at most under per-caller isolation, by default …
const DEFAULT_MAX_PRINCIPALS: usize = 64;
/// … and at most.
const MAX_PRINCIPALS: usize = 10_000;
/// How long a caller's unused sessions are kept, by default.
const DEFAULT_PRINCIPAL_IDLE: Duration = Duration::from_secs(300);
/// How often sessions are pinged when the entry does not say.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// How long a ping may take when the entry does not say (at most the upstream's timeout).
const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[[upstreams]]` entry as written.
///
/// No `Debug`: `env` may hold secrets.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpstreamSpec {
    name: Option<String>,
    transport: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    sign_tenant_headers: bool,
    signing_secret_env: Option<String>,
    signing_secret_file: Option<PathBuf>,
    oauth: Option<OAuthSpec>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    prefix: Option<String>,
    timeout: Option<String>,
    protocol: Option<String>,
    pool_size: Option<usize>,
    #[serde(default)]
    warm: bool,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    trust_annotations: bool,
    correlation_argument: Option<String>,
    isolation: Option<String>,
    pinning: Option<String>,
    max_principals: Option<usize>,
    principal_idle: Option<String>,
    heartbeat_interval: Option<String>,
    heartbeat_timeout: Option<String>,
    #[serde(default)]
    retry: RetrySpec,
    #[serde(default)]
    breaker: BreakerSpec,
    #[serde(default)]
    tools: ToolsSpec,
    #[serde(default)]
    resources: AllowSpec,
    #[serde(default)]
    prompts: AllowSpec,
}

/// `[upstreams.oauth]`: OAuth toward the upstream (instead of a static bearer token).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OAuthSpec {
    grant: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
    signing_algorithm: Option<String>,
    auth_method: Option<String>,
    assertion_file: Option<PathBuf>,
    client_metadata_url: Option<String>,
    scopes: Option<Vec<String>>,
    issuer: Option<String>,
    audience: Option<String>,
}

/// An entry's OAuth, checked: the grant and what it needs, the client's secret or key from
/// the environment or files, URLs that are https.
fn oauth(name: &str, spec: &OAuthSpec) -> Result<OAuthConfig, String> {
    let secret = secret_source(
        name,
        "oauth.client_secret",
        &spec.client_secret_env,
        &spec.client_secret_file,
    )?;
    let auth_method = match spec.auth_method.as_deref() {
        None => None,
        Some(method) => Some(AuthMethod::parse(method).ok_or_else(|| {
            format!(
                "{name}: oauth.auth_method {method:?} is not one of none, client_secret_basic, \
                 client_secret_post, private_key_jwt"
            )
        })?),
    };
    let algorithm = match spec.signing_algorithm.as_deref() {
        None => jsonwebtoken::Algorithm::ES256,
        Some(a) => a
            .parse()
            .ok()
            .filter(|a| {
                !matches!(
                    a,
                    jsonwebtoken::Algorithm::HS256
                        | jsonwebtoken::Algorithm::HS384
                        | jsonwebtoken::Algorithm::HS512
                )
            })
            .ok_or_else(|| {
                format!("{name}: oauth.signing_algorithm {a:?} is not an asymmetric JWS algorithm")
            })?,
    };
    let private_key = spec
        .private_key_file
        .clone()
        .map(|path| (SecretSource::File(path), algorithm));
    let grant = match spec.grant.as_deref().unwrap_or("client_credentials") {
        "client_credentials" => Grant::ClientCredentials,
        "authorization_code" => Grant::AuthorizationCode,
        "token_exchange" => Grant::TokenExchange {
            audience: spec.audience.clone(),
        },
        "jwt_bearer" => Grant::JwtBearer(SecretSource::File(spec.assertion_file.clone().ok_or_else(
            || format!("{name}: oauth.grant = \"jwt_bearer\" needs `assertion_file` (the workload's token)"),
        )?)),
        other => {
            return Err(format!(
                "{name}: oauth.grant {other:?} is not one of client_credentials, \
                 authorization_code, jwt_bearer, token_exchange"
            ));
        }
    };
    if spec.assertion_file.is_some() && !matches!(grant, Grant::JwtBearer(_)) {
        return Err(format!(
            "{name}: oauth.assertion_file is for grant = \"jwt_bearer\""
        ));
    }
    if spec.audience.is_some() && !matches!(grant, Grant::TokenExchange { .. }) {
        return Err(format!(
            "{name}: oauth.audience is for grant = \"token_exchange\""
        ));
    }
    let confidential = matches!(
        grant,
        Grant::ClientCredentials | Grant::TokenExchange { .. }
    );
    if confidential && spec.client_id.is_none() {
        return Err(format!("{name}: oauth client credentials need `client_id`"));
    }
    if confidential && secret.is_none() && private_key.is_none() {
        return Err(format!(
            "{name}: oauth client credentials need a client secret \
             (`client_secret_env`/`client_secret_file`) or `private_key_file`"
        ));
    }
    match auth_method {
        Some(AuthMethod::Basic | AuthMethod::Post) if secret.is_none() => {
            return Err(format!(
                "{name}: oauth.auth_method {:?} needs a client secret",
                spec.auth_method.as_deref().unwrap_or_default()
            ));
        }
        Some(AuthMethod::PrivateKeyJwt) if private_key.is_none() => {
            return Err(format!(
                "{name}: oauth.auth_method \"private_key_jwt\" needs `private_key_file`"
            ));
        }
        _ => {}
    }
    for (key, url) in [
        ("issuer", &spec.issuer),
        ("client_metadata_url", &spec.client_metadata_url),
    ] {
        if let Some(url) = url
            && let Err(e) = crate::upstream::oauth::checked_url(url, true)
        {
            return Err(format!("{name}: oauth.{key}: {e:#}"));
        }
    }
    Ok(OAuthConfig {
        grant,
        client_id: spec.client_id.clone(),
        client_secret: secret,
        private_key,
        auth_method,
        client_metadata_url: spec.client_metadata_url.clone(),
        scopes: spec.scopes.clone(),
        issuer: spec.issuer.clone(),
        store: None,
        client: SharedClient::default(),
    })
}

/// Give the entries whose grant is kept between runs (the authorization code grant; the proxy's
/// too) the grant store of `data_dir`, sealed with the key of `MCPGATE_SECRET_KEY` or
/// `MCPGATE_SECRET_KEY_FILE`. Without a key they still load, and say they cannot be used.
pub(super) fn attach_grant_store<'a, 'u>(
    l: &mut Layers<'a>,
    upstreams: impl IntoIterator<Item = &'u mut UpstreamConfig>,
    data_dir: &std::path::Path,
) {
    use crate::upstream::oauth::{GrantStore, SecretKey};
    let key = match (
        l.env_var("MCPGATE_SECRET_KEY"),
        l.env_var("MCPGATE_SECRET_KEY_FILE"),
    ) {
        (Some(secret), _) => match SecretKey::derive(&secret) {
            Ok(key) => Some(key),
            Err(e) => {
                l.issue("secret_key", Some("MCPGATE_SECRET_KEY"), format!("{e:#}"));
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path)
            .map_err(anyhow::Error::from)
            .and_then(|s| SecretKey::derive(&s))
        {
            Ok(key) => Some(key),
            Err(e) => {
                l.issue(
                    "secret_key",
                    Some("MCPGATE_SECRET_KEY_FILE"),
                    format!("{path}: {e:#}"),
                );
                None
            }
        },
        (None, None) => None,
    };
    let store = GrantStore::new(data_dir, key);
    for upstream in upstreams {
        if let UpstreamTransport::Http {
            oauth: Some(oauth), ..
        } = &mut upstream.transport
            && matches!(oauth.grant, Grant::AuthorizationCode)
        {
            oauth.store = Some(store.clone());
        }
    }
}

/// `[upstreams.resources]` and `[upstreams.prompts]`: which are exposed.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AllowSpec {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

impl From<AllowSpec> for Allowlist {
    fn from(spec: AllowSpec) -> Self {
        Self {
            allow: spec.allow,
            deny: spec.deny,
        }
    }
}

/// `[upstreams.tools]`: which of the upstream's tools are exposed, and how.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ToolsSpec {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    overrides: BTreeMap<String, OverrideSpec>,
}

/// `[upstreams.tools.overrides.NAME]`: the operator's changes to one tool.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OverrideSpec {
    name: Option<String>,
    description: Option<String>,
    read_only: Option<bool>,
    destructive: Option<bool>,
    idempotent: Option<bool>,
    open_world: Option<bool>,
    #[serde(default)]
    fixed: serde_json::Map<String, serde_json::Value>,
    timeout: Option<String>,
}

/// `[upstreams.retry]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetrySpec {
    attempts: Option<u32>,
    base_delay: Option<String>,
    max_delay: Option<String>,
    budget: Option<f64>,
    min_retries: Option<u32>,
}

/// `[upstreams.breaker]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BreakerSpec {
    failures: Option<u32>,
    error_rate: Option<f64>,
    min_calls: Option<u32>,
    window: Option<String>,
    cooldown: Option<String>,
    probes: Option<u32>,
}

/// Problems found in one entry, all of them.
struct Problems {
    name: String,
    found: Vec<String>,
}

impl Problems {
    fn add(&mut self, problem: impl std::fmt::Display) {
        self.found.push(format!("{}: {problem}", self.name));
    }

    /// `text` as a duration (`zero_ok`: `"0s"` allowed), or `default` when absent.
    fn duration(
        &mut self,
        key: &str,
        text: Option<&str>,
        default: Duration,
        zero_ok: bool,
    ) -> Duration {
        let Some(text) = text else {
            return default;
        };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if zero_ok || !d.is_zero() => d,
            _ => {
                self.add(format_args!(
                    "`{key}` must be a {}duration such as \"30s\"",
                    if zero_ok { "" } else { "positive " }
                ));
                default
            }
        }
    }
}

impl Problems {
    /// The value `text` names among `choices` (the first when absent); an unknown one is a
    /// problem naming every choice.
    fn choice<T: Copy>(&mut self, key: &str, text: Option<&str>, choices: &[(&str, T)]) -> T {
        let default = choices[0].1;
        let Some(text) = text else {
            return default;
        };
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text) {
            return *value;
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
        self.add(format_args!(
            "{key} {text:?} is not one of {}",
            names.join(", ")
        ));
        default
    }
}

impl TryFrom<UpstreamSpec> for UpstreamConfig {
    type Error = String;

    fn try_from(spec: UpstreamSpec) -> Result<Self, String> {
        let Some(name) = spec.name.clone().filter(|n| is_identifier(n)) else {
            return Err("needs a `name` of 1-128 characters of A-Z a-z 0-9 _ . -".into());
        };
        let mut problems = Problems {
            name: name.clone(),
            found: Vec::new(),
        };
        let transport = transport(&name, &spec)?;
        let prefix = spec.prefix.unwrap_or_else(|| format!("{name}__"));
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            problems.add("`prefix` may hold only A-Z a-z 0-9 _ . - (tool names must stay valid)");
        }
        let timeout = problems.duration("timeout", spec.timeout.as_deref(), DEFAULT_TIMEOUT, false);
        let protocol = problems.choice(
            "protocol",
            spec.protocol.as_deref(),
            &[
                ("auto", UpstreamProtocol::Auto),
                ("legacy", UpstreamProtocol::Legacy),
                ("2026-07-28", UpstreamProtocol::Modern),
            ],
        );
        let pool_size = spec.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if !(1..=MAX_POOL_SIZE).contains(&pool_size) {
            problems.add(format_args!("`pool_size` must be 1-{MAX_POOL_SIZE}"));
        }
        let heartbeat_interval = problems.duration(
            "heartbeat_interval",
            spec.heartbeat_interval.as_deref(),
            DEFAULT_HEARTBEAT,
            true,
        );
        let heartbeat_timeout = problems.duration(
            "heartbeat_timeout",
            spec.heartbeat_timeout.as_deref(),
            DEFAULT_HEARTBEAT_TIMEOUT.min(timeout),
            false,
        );
        if let Some(key) = &spec.correlation_argument
            && !is_identifier(key)
        {
            problems.add("`correlation_argument` must be 1-128 characters of A-Z a-z 0-9 _ . -");
        }
        let isolation = problems.choice(
            "isolation",
            spec.isolation.as_deref(),
            &[
                ("shared", Isolation::Shared),
                ("per_principal", Isolation::PerPrincipal),
            ],
        );
        let pinning = problems.choice(
            "pinning",
            spec.pinning.as_deref(),
            &[
                ("warn", Pinning::Warn),
                ("block", Pinning::Block),
                ("off", Pinning::Off),
            ],
        );
        let max_principals = spec.max_principals.unwrap_or(DEFAULT_MAX_PRINCIPALS);
        if !(1..=MAX_PRINCIPALS).contains(&max_principals) {
            problems.add(format_args!("`max_principals` must be 1-{MAX_PRINCIPALS}"));
        }
        let principal_idle = problems.duration(
            "principal_idle",
            spec.principal_idle.as_deref(),
            DEFAULT_PRINCIPAL_IDLE,
            false,
        );
        let retry = retry(&mut problems, &spec.retry);
        let breaker = breaker(&mut problems, &spec.breaker);
        let mut overrides = BTreeMap::new();
        for (tool, over) in spec.tools.overrides {
            overrides.insert(
                tool.clone(),
                tool_override(&mut problems, &tool, over, &spec.correlation_argument),
            );
        }
        if !problems.found.is_empty() {
            return Err(problems.found.join("; "));
        }
        Ok(UpstreamConfig {
            protocol,
            name,
            transport,
            prefix,
            tools: Allowlist {
                allow: spec.tools.allow,
                deny: spec.tools.deny,
            },
            resources: spec.resources.into(),
            prompts: spec.prompts.into(),
            timeout,
            pool_size,
            warm: spec.warm,
            retry,
            breaker,
            heartbeat_interval,
            heartbeat_timeout,
            overrides,
            trust_annotations: spec.trust_annotations,
            correlation_argument: spec.correlation_argument,
            required: spec.required,
            isolation,
            max_principals,
            principal_idle,
            pinning,
        })
    }
}

/// The transport an entry describes, with the fields of the other transport refused.
fn transport(name: &str, spec: &UpstreamSpec) -> Result<UpstreamTransport, String> {
    let http_only = spec.url.is_some()
        || !spec.headers.is_empty()
        || spec.bearer_token_env.is_some()
        || spec.bearer_token_file.is_some()
        || spec.sign_tenant_headers
        || spec.ca_file.is_some()
        || spec.client_cert.is_some()
        || spec.client_key.is_some()
        || spec.oauth.is_some();
    let stdio_only = spec.command.is_some()
        || !spec.args.is_empty()
        || !spec.env.is_empty()
        || spec.cwd.is_some();
    match spec.transport.as_deref().unwrap_or("stdio") {
        "stdio" if http_only => Err(format!(
            "{name}: `url`, `headers` and bearer tokens are for transport = \"http\""
        )),
        "http" | "sse" if stdio_only => Err(format!(
            "{name}: `command`, `args`, `env` and `cwd` are for transport = \"stdio\""
        )),
        "stdio" => {
            let Some(command) = spec.command.clone().filter(|c| !c.trim().is_empty()) else {
                return Err(format!("{name}: a stdio upstream needs a `command`"));
            };
            Ok(UpstreamTransport::Stdio {
                command,
                args: spec.args.clone(),
                env: spec.env.clone(),
                cwd: spec.cwd.clone(),
            })
        }
        "http" | "sse" => {
            let sse = spec.transport.as_deref() == Some("sse");
            if sse
                && spec
                    .protocol
                    .as_deref()
                    .is_some_and(|p| p != "legacy" && p != "auto")
            {
                return Err(format!(
                    "{name}: an sse upstream speaks the legacy protocol (protocol = \"legacy\")"
                ));
            }
            if sse && spec.sign_tenant_headers {
                return Err(format!(
                    "{name}: signed tenant headers are for Streamable HTTP upstreams, not sse"
                ));
            }
            let Some(url) = spec
                .url
                .clone()
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            else {
                return Err(format!(
                    "{name}: an http upstream needs an http(s):// `url`"
                ));
            };
            let bearer = secret_source(
                name,
                "bearer_token",
                &spec.bearer_token_env,
                &spec.bearer_token_file,
            )?;
            let signing = secret_source(
                name,
                "signing_secret",
                &spec.signing_secret_env,
                &spec.signing_secret_file,
            )?;
            match (spec.sign_tenant_headers, signing.is_some()) {
                (true, false) => {
                    return Err(format!(
                        "{name}: `sign_tenant_headers` needs `signing_secret_env` or \
                         `signing_secret_file`"
                    ));
                }
                (false, true) => {
                    return Err(format!(
                        "{name}: a signing secret without `sign_tenant_headers = true` signs \
                         nothing"
                    ));
                }
                _ => {}
            }
            if spec
                .headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("authorization"))
            {
                return Err(format!(
                    "{name}: set the upstream's token with `bearer_token_env` or \
                     `bearer_token_file`, not in `headers`"
                ));
            }
            let tls = upstream_tls(name, &url, spec)?;
            let oauth = spec.oauth.as_ref().map(|o| oauth(name, o)).transpose()?;

            if oauth.is_some() && bearer.is_some() {
                return Err(format!(
                    "{name}: a bearer token and [upstreams.oauth] exclude each other"
                ));
            }
            Ok(UpstreamTransport::Http {
                url,
                sse,
                headers: spec.headers.clone(),
                bearer,
                oauth: oauth.map(Box::new),
                signing,
                tls,
            })
        }
        other => Err(format!(
            "{name}: transport {other:?} is not supported (expected \"stdio\", \"http\" or \"sse\")"
        )),
    }
}

/// TLS toward an `https://` upstream: the platform's roots plus `ca_file`, and the client
/// identity of `client_cert` and `client_key` (both or neither). Refused for plain `http://`.
fn upstream_tls(
    name: &str,
    url: &str,
    spec: &UpstreamSpec,
) -> Result<Option<crate::upstream::UpstreamTls>, String> {
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let identity = match (&spec.client_cert, &spec.client_key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        _ => {
            return Err(format!(
                "{name}: a client certificate needs both `client_cert` and `client_key`"
            ));
        }
    };
    if !https {
        if spec.ca_file.is_some() || identity.is_some() {
            return Err(format!(
                "{name}: `ca_file`, `client_cert` and `client_key` are for an https:// url"
            ));
        }
        return Ok(None);
    }
    crate::upstream::client_config(spec.ca_file.as_deref(), identity)
        .map(Some)
        .map_err(|e| format!("{name}: TLS: {e:#}"))
}

/// A secret from `<key>_env` or `<key>_file` (not both), if either is set.
fn secret_source(
    name: &str,
    key: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<SecretSource>, String> {
    match (env, file) {
        (Some(_), Some(_)) => Err(format!(
            "{name}: `{key}_env` and `{key}_file` exclude each other"
        )),
        (Some(var), None) => Ok(Some(SecretSource::Env(var.clone()))),
        (None, Some(path)) => Ok(Some(SecretSource::File(path.clone()))),
        (None, None) => Ok(None),
    }
}

fn retry(problems: &mut Problems, spec: &RetrySpec) -> RetryPolicy {
    let default = RetryPolicy::default();
    let attempts = spec.attempts.unwrap_or(default.attempts);
    if !(1..=10).contains(&attempts) {
        problems.add("`retry.attempts` must be 1-10 (1: never retry)");
    }
    let budget_ratio = spec.budget.unwrap_or(default.budget_ratio);
    if !(0.0..=1.0).contains(&budget_ratio) {
        problems.add("`retry.budget` must be a share of calls between 0 and 1");
    }
    RetryPolicy {
        attempts,
        base_delay: problems.duration(
            "retry.base_delay",
            spec.base_delay.as_deref(),
            default.base_delay,
            true,
        ),
        max_delay: problems.duration(
            "retry.max_delay",
            spec.max_delay.as_deref(),
            default.max_delay,
            true,
        ),
        budget_ratio,
        min_retries: spec.min_retries.unwrap_or(default.min_retries),
    }
}

fn breaker(problems: &mut Problems, spec: &BreakerSpec) -> BreakerPolicy {
    let default = BreakerPolicy::default();
    let error_rate = spec.error_rate.unwrap_or(default.error_rate);
    if !(error_rate > 0.0 && error_rate <= 1.0) {
        problems.add("`breaker.error_rate` must be a share of calls above 0 and at most 1");
    }
    let probes = spec.probes.unwrap_or(default.probes);
    if probes == 0 {
        problems.add("`breaker.probes` must be at least 1");
    }
    BreakerPolicy {
        consecutive_failures: spec.failures.unwrap_or(default.consecutive_failures),
        error_rate,
        min_calls: spec.min_calls.unwrap_or(default.min_calls),
        window: problems.duration(
            "breaker.window",
            spec.window.as_deref(),
            default.window,
            false,
        ),
        cooldown: problems.duration(
            "breaker.cooldown",
            spec.cooldown.as_deref(),
            default.cooldown,
            false,
        ),
        probes,
    }
}

fn tool_override(
    problems: &mut Problems,
    tool: &str,
    spec: OverrideSpec,
    correlation_argument: &Option<String>,
) -> ToolOverride {
    if let Some(name) = &spec.name
        && !is_identifier(name)
    {
        problems.add(format_args!(
            "the new name of tool {tool:?} is not a valid tool name (1-128 of A-Z a-z 0-9 _ . -)"
        ));
    }
    if let Some(key) = correlation_argument
        && spec.fixed.contains_key(key)
    {
        problems.add(format_args!(
            "tool {tool:?} fixes the argument {key:?} that `correlation_argument` sets"
        ));
    }
    let timeout = spec.timeout.as_deref().map(|t| {
        problems.duration(
            &format!("tools.overrides.{tool}.timeout"),
            Some(t),
            DEFAULT_TIMEOUT,
            false,
        )
    });
    ToolOverride {
        name: spec.name,
        description: spec.description,
        read_only: spec.read_only,
        destructive: spec.destructive,
        idempotent: spec.idempotent,
        open_world: spec.open_world,
        fixed: spec.fixed,
        timeout,
    }
}

/// Every `[[upstreams]]` entry, each name once.
pub(super) fn resolve_upstreams(l: &mut Layers<'_>) -> Vec<UpstreamConfig> {
    let upstreams = l.file_entries::<UpstreamSpec, UpstreamConfig>("upstreams");
    for upstream in &upstreams {
        // A caller's requests carry its tenant only on the direct path, which a 2026-07-28
        // upstream takes; a legacy session is shared and opened by the gateway.
        if matches!(
            &upstream.transport,
            UpstreamTransport::Http {
                signing: Some(_),
                ..
            }
        ) && upstream.protocol != UpstreamProtocol::Modern
        {
            l.issue(
                "upstreams",
                None,
                format!(
                    "{}: `sign_tenant_headers` needs protocol = \"2026-07-28\" (each call is \
                     then signed for its caller)",
                    upstream.name
                ),
            );
        }
        if let UpstreamTransport::Http {
            oauth: Some(oauth), ..
        } = &upstream.transport
            && matches!(oauth.grant, Grant::TokenExchange { .. })
            && upstream.protocol != UpstreamProtocol::Modern
        {
            l.issue(
                "upstreams",
                None,
                format!(
                    "{}: oauth token exchange needs protocol = \"2026-07-28\" (each call then \
                     carries its own caller's token; a legacy session is shared by callers)",
                    upstream.name
                ),
            );
        }
    }
    let mut seen = HashSet::new();
    for upstream in &upstreams {
        if !seen.insert(upstream.name.clone()) {
            l.issue(
                "upstreams",
                None,
                format!("the upstream name {:?} is used twice", upstream.name),
            );
        }
    }
    let mut offered: HashMap<String, &str> = HashMap::new();
    for upstream in &upstreams {
        for tool in upstream.named_tools() {
            match offered.insert(tool.clone(), &upstream.name) {
                Some(other) if other == upstream.name => l.issue(
                    "upstreams",
                    None,
                    format!("{other}: two of its tools would be offered as {tool:?}"),
                ),
                Some(other) => l.issue(
                    "upstreams",
                    None,
                    format!(
                        "the tool name {tool:?} would be offered by both {other} and {} (give \
                         one a `prefix` or rename the tool)",
                        upstream.name
                    ),
                ),
                None => {}
            }
        }
    }
    upstreams
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::config::{ConfigError, Overrides, resolve};

    /// Each issue as `setting: message`, one per line.
    fn lines(issues: &[crate::config::ConfigIssue]) -> String {
        issues
            .iter()
            .map(|i| format!("{}: {}", i.setting, i.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn with_file(text: &str) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcpgate.toml");
        std::fs::write(&path, text).expect("write");
        let env = HashMap::from([
            ("MCPGATE_CONFIG".to_owned(), path.display().to_string()),
            (
                "MCPGATE_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
        ]);
        resolve(&env, &Overrides::default())
    }

    #[test]
    fn an_entry_gets_defaults_and_every_bad_entry_is_named() {
        let config = with_file(
            "[[upstreams]]\nname = \"files\"\ncommand = \"files-server\"\nargs = [\"--root\", \"/srv\"]\n\
             [upstreams.tools]\nallow = [\"read_*\"]\n",
        )
        .expect("valid");
        let files = &config.upstreams[0];
        assert_eq!(files.prefix, "files__");
        assert_eq!(files.timeout, super::DEFAULT_TIMEOUT);
        assert!(files.exposes("read_file") && !files.exposes("write_file"));

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"a\"\ncommand = \"x\"\n\n\
             [[upstreams]]\nname = \"a\"\ncommand = \"y\"\n\n\
             [[upstreams]]\nname = \"b\"\n\n\
             [[upstreams]]\nname = \"c\"\ncommand = \"z\"\ntransport = \"carrier-pigeon\"\n\n\
             [[upstreams]]\nname = \"d\"\ncommand = \"z\"\nsecret = \"hunter2\"\n",
        ) else {
            panic!("invalid");
        };
        let text: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.setting, i.message))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("used twice"), "{all}");
        assert!(
            all.contains("upstreams[2]") && all.contains("needs a `command`"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[3]") && all.contains("carrier-pigeon"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[4]") && all.contains("secret"),
            "{all}"
        );
        assert!(
            !all.contains("hunter2"),
            "values are not quoted back: {all}"
        );
    }

    #[test]
    fn tools_named_outright_may_not_collide_across_or_within_entries() {
        let entry = |name: &str, extra: &str| {
            format!("[[upstreams]]\nname = \"{name}\"\ncommand = \"srv\"\n{extra}\n")
        };
        let clash = with_file(&format!(
            "{}{}{}",
            entry("a", "prefix = \"\"\n[upstreams.tools]\nallow = [\"search\", \"read_*\"]"),
            entry("b", "prefix = \"\"\n[upstreams.tools]\nallow = [\"*\"]\n[upstreams.tools.overrides.find]\nname = \"search\""),
            entry(
                "c",
                "prefix = \"x_\"\n[upstreams.tools]\nallow = [\"one\", \"two\"]\n[upstreams.tools.overrides.two]\nname = \"one\""
            ),
        ))
        .expect_err("collisions");
        let all = clash.to_string();
        assert!(
            all.contains("\"search\" would be offered by both a and b"),
            "{all}"
        );
        assert!(
            all.contains("c: two of its tools would be offered as \"x_one\""),
            "{all}"
        );

        // Globs decide only once the upstreams list their tools (a runtime quarantine), a
        // denied name is not offered, and prefixes keep the same names apart.
        with_file(&format!(
            "{}{}{}",
            entry("a", "prefix = \"\"\n[upstreams.tools]\nallow = [\"*\"]"),
            entry(
                "b",
                "prefix = \"\"\n[upstreams.tools]\nallow = [\"search\", \"*\"]\ndeny = [\"search\"]"
            ),
            entry("c", "[upstreams.tools]\nallow = [\"search\", \"search\"]"),
        ))
        .expect("no certain collision");
    }

    #[test]
    fn http_entries_take_a_url_and_a_token_source_and_nothing_of_stdio() {
        let config = with_file(
            "[[upstreams]]\nname = \"gh\"\ntransport = \"http\"\nurl = \"https://mcp.example/mcp\"\n\
             bearer_token_file = \"/run/secrets/gh\"\nheaders = { \"X-Team\" = \"platform\" }\n",
        )
        .expect("valid");
        let text = format!("{:?}", config.upstreams[0].transport);
        assert!(
            text.contains("X-Team") && !text.contains("platform"),
            "{text}"
        );

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"a\"\ntransport = \"http\"\n\n\
             [[upstreams]]\nname = \"b\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\n\
             headers = { Authorization = \"Bearer t0ken-in-a-file\" }\n\n\
             [[upstreams]]\nname = \"c\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\n\
             bearer_token_env = \"T\"\nbearer_token_file = \"/t\"\n\n\
             [[upstreams]]\nname = \"d\"\ntransport = \"http\"\nurl = \"http://x/mcp\"\ncommand = \"x\"\n\n\
             [[upstreams]]\nname = \"e\"\ncommand = \"x\"\nurl = \"http://x/mcp\"\n\n\
             [[upstreams]]\nname = \"f\"\ncommand = \"x\"\nprotocol = \"2099\"\n",
        ) else {
            panic!("invalid");
        };
        let all = lines(&issues);
        assert!(
            all.contains("upstreams[0]") && all.contains("needs an http(s)"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[1]") && all.contains("not in `headers`"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[2]") && all.contains("exclude each other"),
            "{all}"
        );
        assert!(
            all.contains("upstreams[3]") && all.contains("are for transport = \"stdio\""),
            "{all}"
        );
        assert!(
            all.contains("upstreams[4]") && all.contains("are for transport = \"http\""),
            "{all}"
        );
        assert!(
            all.contains("upstreams[5]") && all.contains("\"2099\""),
            "{all}"
        );
        assert!(!all.contains("t0ken-in-a-file"), "{all}");
    }

    #[test]
    fn token_exchange_needs_the_modern_era_and_verified_callers() {
        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"obo\"\ntransport = \"http\"\nurl = \"https://x/mcp\"\n\
             [upstreams.oauth]\ngrant = \"token_exchange\"\nclient_id = \"gw\"\n\
             client_secret_env = \"S\"\naudience = \"https://x\"\n",
        ) else {
            panic!("invalid");
        };
        let all = format!("{issues:?}");
        assert!(all.contains("needs protocol = \\\"2026-07-28\\\""), "{all}");
        assert!(all.contains("MCPGATE_AUTH=jwt"), "{all}");
    }

    #[test]
    fn sse_entries_are_legacy_http_upstreams() {
        let config = with_file(
            "[[upstreams]]\nname = \"old\"\ntransport = \"sse\"\nurl = \"https://x/sse\"\n",
        )
        .expect("valid");
        let text = format!("{:?}", config.upstreams[0].transport);
        assert!(text.contains("sse: true"), "{text}");
        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"a\"\ntransport = \"sse\"\nurl = \"https://x/sse\"\nprotocol = \"2026-07-28\"\n\n\
             [[upstreams]]\nname = \"b\"\ntransport = \"sse\"\nurl = \"https://x/sse\"\n\
             sign_tenant_headers = true\nsigning_secret_env = \"S\"\n",
        ) else {
            panic!("invalid");
        };
        let all = format!("{issues:?}");
        assert!(
            all.contains("legacy protocol") && all.contains("not sse"),
            "{all}"
        );
    }

    #[test]
    fn oauth_entries_are_checked_for_what_their_grant_needs() {
        let http = |name: &str, oauth: &str| {
            format!(
                "[[upstreams]]\nname = \"{name}\"\ntransport = \"http\"\nurl = \"https://x/mcp\"\n\
                 [upstreams.oauth]\n{oauth}\n"
            )
        };
        let config = with_file(&http(
            "cc",
            "client_id = \"gw\"\nclient_secret_file = \"/run/secrets/gw\"\nscopes = [\"a\"]",
        ))
        .expect("valid");
        let text = format!("{:?}", config.upstreams[0].transport);
        assert!(text.contains("ClientCredentials"), "{text}");

        let entries = [
            http("a", "client_id = \"gw\""),
            http("b", "client_secret_env = \"S\""),
            http("c", "grant = \"password\""),
            http("d", "grant = \"jwt_bearer\""),
            http(
                "e",
                "client_id = \"gw\"\nclient_secret_env = \"S\"\nauth_method = \"private_key_jwt\"",
            ),
            http(
                "f",
                "grant = \"authorization_code\"\nissuer = \"http://as.example\"",
            ),
            http(
                "g",
                "client_id = \"gw\"\nprivate_key_file = \"/k.pem\"\nsigning_algorithm = \"HS256\"",
            ),
            http("h", "client_id = \"gw\"\nclient_secret_env = \"S\"").replace(
                "[upstreams.oauth]",
                "bearer_token_file = \"/t\"\n[upstreams.oauth]",
            ),
            "[[upstreams]]\nname = \"i\"\ncommand = \"x\"\n[upstreams.oauth]\nclient_id = \"gw\"\n"
                .to_owned(),
        ];
        let Err(ConfigError::Invalid(issues)) = with_file(&entries.concat()) else {
            panic!("invalid");
        };
        let all = lines(&issues);
        for (index, expected) in [
            (0, "need a client secret"),
            (1, "need `client_id`"),
            (2, "\"password\""),
            (3, "needs `assertion_file`"),
            (4, "needs `private_key_file`"),
            (5, "plain http"),
            (6, "not an asymmetric"),
            (7, "exclude each other"),
            (8, "for transport = \"http\""),
        ] {
            assert!(
                all.lines()
                    .any(|l| l.contains(&format!("upstreams[{index}]")) && l.contains(expected)),
                "{index}: {expected} in {all}"
            );
        }
    }

    #[test]
    fn pools_retries_breakers_heartbeats_and_overrides_are_read_and_checked() {
        let config = with_file(
            "[[upstreams]]\nname = \"fs\"\ncommand = \"fs-server\"\npool_size = 4\nwarm = true\n\
             required = true\nheartbeat_interval = \"0s\"\ncorrelation_argument = \"case_id\"\n\
             [upstreams.retry]\nattempts = 2\nbase_delay = \"50ms\"\n\
             [upstreams.breaker]\nfailures = 3\ncooldown = \"5s\"\n\
             [upstreams.tools]\nallow = [\"*\"]\n\
             [upstreams.tools.overrides.read_file]\nname = \"read\"\nread_only = true\n\
             timeout = \"2s\"\nfixed = { root = \"/srv\" }\n",
        )
        .expect("valid");
        let fs = &config.upstreams[0];
        assert_eq!(fs.pool_size, 4);
        assert!(fs.warm && fs.required);
        assert!(fs.heartbeat_interval.is_zero(), "0s turns heartbeats off");
        assert_eq!(fs.retry.attempts, 2);
        assert_eq!(fs.retry.base_delay, Duration::from_millis(50));
        assert_eq!(fs.breaker.consecutive_failures, 3);
        assert_eq!(fs.breaker.cooldown, Duration::from_secs(5));
        let read = &fs.overrides["read_file"];
        assert_eq!(read.name.as_deref(), Some("read"));
        assert_eq!(read.read_only, Some(true));
        assert_eq!(read.timeout, Some(Duration::from_secs(2)));
        assert_eq!(read.fixed["root"], "/srv");

        let defaults = with_file("[[upstreams]]\nname = \"d\"\ncommand = \"x\"\n").expect("valid");
        let d = &defaults.upstreams[0];
        assert_eq!(d.pool_size, super::DEFAULT_POOL_SIZE);
        assert_eq!(d.heartbeat_interval, super::DEFAULT_HEARTBEAT);
        assert!(!d.warm && !d.required && !d.trust_annotations);

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"bad\"\ncommand = \"x\"\npool_size = 0\n\
             heartbeat_interval = \"often\"\ncorrelation_argument = \"case id\"\n\
             [upstreams.retry]\nattempts = 0\nbudget = 3.0\n\
             [upstreams.breaker]\nerror_rate = 2.0\nprobes = 0\n\
             [upstreams.tools.overrides.a]\nname = \"not a name\"\ntimeout = \"0s\"\n\
             [upstreams.tools.overrides.b]\nfixed = { \"case id\" = 1 }\ncolour = \"red\"\n",
        ) else {
            panic!("invalid");
        };
        let all = lines(&issues);
        assert!(
            all.contains("colour"),
            "unknown override keys are refused: {all}"
        );

        let Err(ConfigError::Invalid(issues)) = with_file(
            "[[upstreams]]\nname = \"bad\"\ncommand = \"x\"\npool_size = 0\n\
             heartbeat_interval = \"often\"\ncorrelation_argument = \"case_id\"\n\
             [upstreams.retry]\nattempts = 0\nbudget = 3.0\n\
             [upstreams.breaker]\nerror_rate = 2.0\nprobes = 0\n\
             [upstreams.tools.overrides.a]\nname = \"not a name\"\ntimeout = \"0s\"\n\
             [upstreams.tools.overrides.b]\nfixed = { case_id = 1 }\n",
        ) else {
            panic!("invalid");
        };
        let all = lines(&issues);
        for expected in [
            "`pool_size` must be 1-64",
            "`heartbeat_interval` must be a duration",
            "`retry.attempts` must be 1-10",
            "`retry.budget`",
            "`breaker.error_rate`",
            "`breaker.probes`",
            "new name of tool \"a\"",
            "tools.overrides.a.timeout",
            "fixes the argument \"case_id\"",
        ] {
            assert!(
                all.contains(expected),
                "{expected}: every problem in one run: {all}"
            );
        }
    }
}
