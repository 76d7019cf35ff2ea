//! Authentication settings: the backend, the default principal, static tokens, JWT validation
//! and what the OAuth protected-resource metadata advertises. Resolved by `config`, used by the
//! [`Authenticator`](super::Authenticator) and the app.

use crate::edge::{JwtSettings, ToolRule};

/// How callers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every caller is the configured default principal; never a 401.
    None,
    /// `Authorization: Bearer dev:<user>:<org>:<role>`, no cryptography; for development.
    Dev,
    /// `Authorization: Bearer <token>` with one of the configured static tokens.
    Token,
    /// `Authorization: Bearer <JWT>` signed by a configured key, for this server's audience.
    Jwt,
    /// Signed tenant headers (`X-Mcpgate-*`, see [`crate::edge::signed`]) from a trusted
    /// sender, such as an mcpgate at the edge; callers' own tokens never reach this server.
    Signed,
    /// The client certificate of the TLS connection, verified against the client CA
    /// (`MCPGATE_AUTH=mtls`): its subject is the caller (see [`crate::edge::ClientCertificate`]).
    Certificate,
}

/// Secrets that verify signed tenant headers (several during a rotation). Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SigningSecrets(pub Vec<String>);

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} redacted>", self.0.len())
    }
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Backend. Default `none`. Env `MCPGATE_AUTH`.
    pub mode: AuthMode,
    /// Subject of the default principal. Default `local`. Env `MCPGATE_DEFAULT_SUBJECT`.
    pub default_subject: String,
    /// Org (tenant) of the default principal. Default `default`. Env `MCPGATE_DEFAULT_ORG`.
    pub default_org: String,
    /// Role of the default principal. Default `admin`. Env `MCPGATE_DEFAULT_ROLE`.
    pub default_role: String,
    /// Static bearer tokens (auth `token`): `MCPGATE_AUTH_TOKEN` (acting as the default
    /// principal) and any `[[auth.tokens]]` in the file. Default none.
    pub tokens: Vec<StaticToken>,
    /// Accept the token as a `?key=` query parameter, for bridges that cannot send headers.
    /// The edge strips it from the request before anything else sees it. Default false. Env
    /// `MCPGATE_AUTH_QUERY_KEY`.
    pub query_key: bool,
    /// JWT validation (auth `jwt`): keys from `MCPGATE_JWT_SECRET` (32+ bytes),
    /// `MCPGATE_JWKS_URL` or `MCPGATE_JWKS_FILE`; `MCPGATE_JWT_ISSUER`, `MCPGATE_JWT_AUDIENCE`
    /// (default: this server's MCP URL and public URL), `MCPGATE_JWT_LEEWAY` (30s, at most 5m),
    /// `MCPGATE_JWT_ORG_CLAIM` (`org`; empty: every caller in the default org),
    /// `MCPGATE_JWT_ROLES_CLAIM` (`roles`), `MCPGATE_JWT_DEFAULT_ROLE` (`viewer`),
    /// `MCPGATE_JWT_MAX_BYTES` (8192), `MCPGATE_JWKS_CACHE_TTL` (10m),
    /// `MCPGATE_JWKS_REFETCH_COOLDOWN` (30s, at least 1s).
    pub jwt: JwtSettings,
    /// Scopes every authenticated request must carry; without them the answer is 403
    /// `insufficient_scope`. Default none. Env `MCPGATE_REQUIRED_SCOPES`.
    pub required_scopes: Vec<String>,
    /// Authorization servers named in the protected-resource metadata (RFC 9728). Default: the
    /// JWT issuer, when one is set. Env `MCPGATE_AUTHORIZATION_SERVERS`.
    pub authorization_servers: Vec<String>,
    /// Scopes advertised in the protected-resource metadata. Default: the required scopes and
    /// every scope the rules name. Env `MCPGATE_SCOPES_SUPPORTED`.
    pub scopes_supported: Vec<String>,
    /// Per-tool rules (`[[auth.rules]]` in the file). Default none.
    pub rules: Vec<ToolRule>,
    /// Auth `signed`: the secrets signatures are checked with (each 32+ characters). Env
    /// `MCPGATE_SIGNING_SECRETS` (comma-separated). Signed callers get the default role.
    pub signing_secrets: SigningSecrets,
}

/// One static bearer token and who presents it.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The caller's name: the principal's subject, in logs and metrics.
    pub name: String,
    /// The secret callers send as `Authorization: Bearer <secret>`.
    pub secret: String,
    /// The caller's org.
    pub org: String,
    /// The caller's role.
    pub role: String,
}

impl std::fmt::Debug for StaticToken {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("org", &self.org)
            .field("role", &self.role)
            .finish()
    }
}
