//! OAuth 2.0 protected-resource metadata (RFC 9728): how a client learns which authorization
//! server issues tokens for this server, and which scopes exist. Served at the root
//! `/.well-known/oauth-protected-resource` and at the path-suffixed variant for the MCP endpoint
//! (`/.well-known/oauth-protected-resource/mcp`), which clients try first.
//!
//! The documents are public (they describe the server, not anyone's data), built once, and
//! readable cross-origin so browser-based clients can discover them.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// The root metadata path.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// What the metadata says.
pub struct ResourceMetadata<'a> {
    /// The server's public URL (no trailing slash).
    pub public_url: &'a str,
    /// The MCP endpoint's path.
    pub mcp_path: &'a str,
    /// Authorization servers (at least one).
    pub authorization_servers: &'a [String],
    /// Scopes clients may ask for.
    pub scopes_supported: &'a [String],
}

impl ResourceMetadata<'_> {
    /// The metadata URL that challenges name.
    pub fn url(&self) -> String {
        format!("{}{METADATA_PATH}", self.public_url)
    }

    fn document(&self, resource: &str) -> Bytes {
        let mut doc = json!({
            "resource": resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "resource_name": "mcpgate",
        });
        if !self.scopes_supported.is_empty() {
            doc["scopes_supported"] = json!(self.scopes_supported);
        }
        Bytes::from(doc.to_string())
    }

    /// The two metadata routes.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let root = self.document(self.public_url);
        let mcp = self.document(&format!("{}{}", self.public_url, self.mcp_path));
        Router::new()
            .route(METADATA_PATH, get(move || serve(root.clone())))
            .route(
                &format!("{METADATA_PATH}{}", self.mcp_path),
                get(move || serve(mcp.clone())),
            )
    }
}

async fn serve(document: Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        document,
    )
        .into_response()
}
