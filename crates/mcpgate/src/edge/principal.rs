//! Who is calling: the [`Principal`] every request resolves to before it reaches a tool.

use std::sync::Arc;

/// How the principal was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthVia {
    /// The configured default principal (auth `none`, stdio, or `dev` without a header).
    Default,
    /// A `dev:` bearer token.
    DevToken,
    /// A configured static bearer token.
    StaticToken,
    /// A verified JWT.
    Jwt,
    /// Signed tenant headers from a trusted sender.
    Signed,
    /// A verified TLS client certificate.
    Certificate,
}

/// The caller of one request: subject, tenant (org), roles and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who: a user or client name.
    pub subject: Arc<str>,
    /// The tenant every data access is scoped to.
    pub org: Arc<str>,
    /// Roles such as `viewer`, `editor`, `admin`.
    pub roles: Arc<[String]>,
    /// OAuth scopes, when a token carried them.
    pub scopes: Arc<[String]>,
    /// How the principal was established.
    pub via: AuthVia,
    /// The issuer that vouched for a JWT caller (`iss`); `None` for every other kind.
    pub issuer: Option<Arc<str>>,
}

impl Principal {
    /// A principal with one role and no scopes.
    pub fn new(subject: &str, org: &str, role: &str, via: AuthVia) -> Self {
        Self {
            subject: subject.into(),
            org: org.into(),
            roles: Arc::from(vec![role.to_owned()]),
            scopes: Arc::from(Vec::<String>::new()),
            via,
            issuer: None,
        }
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the principal holds the OAuth scope `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the caller brought a credential (rather than falling back to the default).
    pub fn is_authenticated(&self) -> bool {
        self.via != AuthVia::Default
    }
}

/// Roles a principal may hold, in increasing power.
pub const ROLES: &[&str] = &["viewer", "editor", "admin"];

/// Subjects, orgs and roles are short identifiers: 1-128 of `[A-Za-z0-9._@-]`.
pub fn is_identifier(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// The bearer token a caller was verified by (auth `jwt`), kept beside the request so that an
/// upstream configured for on-behalf-of delegation can have it exchanged (RFC 8693) for a token
/// of its own. It is never sent anywhere as it is, and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerToken(pub Arc<str>);

impl std::fmt::Debug for CallerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerToken(…)")
    }
}
