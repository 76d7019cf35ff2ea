//! `/docs`: an API docs page (Swagger UI) for the OpenAPI document at `/openapi.json`.
//!
//! Swagger UI is vendored (`assets/docs/`, see its README for the version and how to update it)
//! and compiled into the binary rather than loaded from a CDN: the server is often deployed
//! where there is no internet access, a CDN is a third party that sees every docs visit and
//! could serve altered code, and the page stays in step with the binary that serves it. The
//! page fetches nothing but this server's own `/docs/*` assets and `/openapi.json`, which lets
//! it run under a strict content security policy: no inline script (the start-up code is
//! `/docs/init.js`), only inline styles, which Swagger UI sets from JavaScript.
//!
//! All URLs in the page are absolute from the server root, so `/docs` and `/docs/` both work.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page: loads the stylesheet, the bundle and `init.js`.
const INDEX_HTML: &str = include_str!("../../assets/docs/index.html");
/// Starts Swagger UI on `/openapi.json`.
const INIT_JS: &str = include_str!("../../assets/docs/init.js");
/// Swagger UI with its dependencies (vendored, unmodified).
const BUNDLE_JS: &[u8] = include_bytes!("../../assets/docs/swagger-ui-bundle.js");
/// Swagger UI's stylesheet (vendored, unmodified).
const STYLESHEET: &[u8] = include_bytes!("../../assets/docs/swagger-ui.css");

/// The policy the page runs under. Swagger UI sets inline styles, and its icons are `data:`
/// images; everything else comes from this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Assets change only with the binary; a day of caching spares reloading ~2 MB per visit.
const ASSET_CACHE: &str = "public, max-age=86400";

/// `GET /docs` (and `/docs/`) with the assets it loads. Stateless, so it merges into a router
/// of any state.
pub fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/docs", get(index))
        .route("/docs/", get(index))
        .route(
            "/docs/init.js",
            get(|| async { asset(JAVASCRIPT, INIT_JS.as_bytes()) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset(JAVASCRIPT, BUNDLE_JS) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset(CSS, STYLESHEET) }),
        )
}

/// The HTML page: revalidated on every visit, under the content security policy.
async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// A static asset with its type, cacheable for a day.
fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, ASSET_CACHE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderMap, Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = docs_router::<()>()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, headers, body.to_vec())
    }

    fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} is set"))
            .to_str()
            .expect("ASCII")
    }

    #[tokio::test]
    async fn the_page_is_html_under_the_policy_at_both_paths() {
        for path in ["/docs", "/docs/"] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header_str(&headers, "content-type"),
                "text/html; charset=utf-8"
            );
            assert_eq!(header_str(&headers, "cache-control"), "no-cache");
            assert_eq!(header_str(&headers, "x-content-type-options"), "nosniff");
            assert_eq!(
                header_str(&headers, "content-security-policy"),
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                 base-uri 'none'; form-action 'self'"
            );
            assert_eq!(body, INDEX_HTML.as_bytes());
        }
    }

    #[tokio::test]
    async fn the_assets_have_their_types_and_are_cacheable() {
        for (path, content_type, body) in [
            ("/docs/init.js", JAVASCRIPT, INIT_JS.as_bytes()),
            ("/docs/swagger-ui-bundle.js", JAVASCRIPT, BUNDLE_JS),
            ("/docs/swagger-ui.css", CSS, STYLESHEET),
        ] {
            let (status, headers, served) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header_str(&headers, "content-type"), content_type, "{path}");
            assert_eq!(header_str(&headers, "cache-control"), ASSET_CACHE, "{path}");
            assert_eq!(header_str(&headers, "x-content-type-options"), "nosniff");
            assert!(
                headers.get("content-security-policy").is_none(),
                "{path}: the policy belongs to the page"
            );
            assert_eq!(served, body, "{path}");
        }
    }

    #[tokio::test]
    async fn nothing_else_is_served() {
        for path in [
            "/docs/index.html",
            "/docs/swagger-ui.css.map",
            "/docs/README.md",
            "/docs/x",
        ] {
            assert_eq!(get(path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
    }

    /// Every URL the page and its start-up script name is one this router serves, or the
    /// OpenAPI document, always absolute from the root (so `/docs` and `/docs/` agree) and
    /// never on another host.
    #[tokio::test]
    async fn the_page_loads_only_what_is_served_here() {
        let mut urls = Vec::new();
        for (source, attribute) in [
            (INDEX_HTML, "src=\""),
            (INDEX_HTML, "href=\""),
            (INIT_JS, "url: \""),
        ] {
            for (i, _) in source.match_indices(attribute) {
                let rest = &source[i + attribute.len()..];
                urls.push(&rest[..rest.find('"').expect("closing quote")]);
            }
        }
        // The empty icon, which spares the browser a request for /favicon.ico.
        urls.retain(|url| *url != "data:,");
        assert_eq!(
            urls,
            [
                "/docs/swagger-ui-bundle.js",
                "/docs/init.js",
                "/docs/swagger-ui.css",
                "/openapi.json"
            ]
        );
        for url in &urls[..3] {
            assert_eq!(get(url).await.0, StatusCode::OK, "{url}");
        }
        assert!(!INDEX_HTML.contains("<script>"), "no inline script");
        assert!(INIT_JS.contains("validatorUrl: null"));
    }
}
