//! `/docs` renders the app's own OpenAPI document in a real browser, offline (see `browser`): a
//! page that needed a CDN, a web font or the Swagger validator would not render.

use crate::browser;
use crate::support::Server;

#[tokio::test]
async fn docs_render_offline_in_headless_chromium() {
    let server = Server::start(&[]).await;
    let Some(page) = browser::render(&server.at("/docs"), "docs rendering").await else {
        return;
    };
    let context = || page.context(&server.logs());
    let dom = &page.dom;
    assert!(page.success, "chromium failed\n{}", context());
    assert!(
        dom.contains("id=\"swagger-ui\""),
        "the docs page was not loaded\n{}",
        context()
    );
    assert!(
        !dom.contains("Failed to load API definition"),
        "Swagger UI could not load /openapi.json\n{}",
        context()
    );
    assert!(
        dom.contains("opblock"),
        "Swagger UI rendered no operations\n{}",
        context()
    );
    assert!(
        dom.contains("/api/v1/notes"),
        "the notes API is not in the rendered docs\n{}",
        context()
    );
}
