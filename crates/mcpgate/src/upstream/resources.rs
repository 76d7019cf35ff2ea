//! An upstream's resources, resource templates and prompts as exposed: filtered by the entry's
//! allowlists, and namespaced so that they route back to their upstream — a URI gets the
//! upstream's name as its first component after the scheme (`ui://widget/app.html` from
//! `files` becomes `ui://files/widget/app.html`, still a valid `ui://` URI), a prompt gets the
//! entry's prefix. URIs inside what the upstream returns (resource links and embedded
//! resources in tool results and reads, a tool's MCP Apps `ui.resourceUri`) are namespaced the
//! same way, so a client can follow them through the gateway.

use rmcp::model::{
    CallToolResult, ContentBlock, Prompt, ReadResourceResult, Resource, ResourceContents,
    ResourceTemplate, Tool,
};
use serde_json::Value;

use super::UpstreamConfig;

/// The namespace of `config`'s URIs: its name, or none for a prefix-less upstream (whose
/// URIs, like its tool and prompt names, are offered as the upstream gives them).
pub fn namespace(config: &UpstreamConfig) -> Option<&str> {
    (!config.prefix.is_empty()).then_some(config.name.as_str())
}

/// `uri` as offered: in `namespace`, or unchanged without one.
pub fn offered(namespace: Option<&str>, uri: &str) -> Option<String> {
    match namespace {
        Some(namespace) => namespaced(namespace, uri),
        None => Some(uri.to_owned()),
    }
}

/// The upstream's own URI for an offered one.
pub fn own(namespace: Option<&str>, uri: &str) -> Option<String> {
    match namespace {
        Some(namespace) => upstream_uri(namespace, uri),
        None => Some(uri.to_owned()),
    }
}

/// `uri` with `namespace` as its first component after the scheme; `None` for a URI without a
/// scheme (it could not be routed back).
pub fn namespaced(namespace: &str, uri: &str) -> Option<String> {
    if let Some((scheme, rest)) = uri.split_once("://") {
        return valid_scheme(scheme).then(|| format!("{scheme}://{namespace}/{rest}"));
    }
    let (scheme, rest) = uri.split_once(':')?;
    valid_scheme(scheme).then(|| format!("{scheme}:{namespace}/{rest}"))
}

/// The upstream's own URI for a `namespaced` one; `None` when it is not in `namespace`.
pub fn upstream_uri(namespace: &str, uri: &str) -> Option<String> {
    if let Some((scheme, rest)) = uri.split_once("://") {
        let rest = rest.strip_prefix(namespace)?.strip_prefix('/')?;
        return valid_scheme(scheme).then(|| format!("{scheme}://{rest}"));
    }
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.strip_prefix(namespace)?.strip_prefix('/')?;
    valid_scheme(scheme).then(|| format!("{scheme}:{rest}"))
}

/// RFC 3986: a letter, then letters, digits, `+`, `-`, `.`.
fn valid_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The resources `config` exposes, namespaced.
pub fn expose_resources(config: &UpstreamConfig, listed: Vec<Resource>) -> Vec<Resource> {
    listed
        .into_iter()
        .filter(|r| config.resources.permits(&r.uri))
        .filter_map(|mut r| {
            r.uri = offered(namespace(config), &r.uri)?;
            Some(r)
        })
        .collect()
}

/// The resource templates `config` exposes, namespaced.
pub fn expose_templates(
    config: &UpstreamConfig,
    listed: Vec<ResourceTemplate>,
) -> Vec<ResourceTemplate> {
    listed
        .into_iter()
        .filter(|t| config.resources.permits(&t.uri_template))
        .filter_map(|mut t| {
            t.uri_template = offered(namespace(config), &t.uri_template)?;
            Some(t)
        })
        .collect()
}

/// The prompts `config` exposes, under its prefix.
pub fn expose_prompts(config: &UpstreamConfig, listed: Vec<Prompt>) -> Vec<Prompt> {
    listed
        .into_iter()
        .filter(|p| config.prompts.permits(&p.name))
        .map(|mut p| {
            p.name = format!("{}{}", config.prefix, p.name);
            p
        })
        .collect()
}

/// Namespace the URIs a tool result carries (resource links, embedded resources).
pub fn rewrite_tool_result(namespace: &str, result: &mut CallToolResult) {
    for block in &mut result.content {
        rewrite_block(namespace, block);
    }
}

/// Namespace the URIs of what a read returned.
pub fn rewrite_read(namespace: &str, result: &mut ReadResourceResult) {
    for contents in &mut result.contents {
        rewrite_contents(namespace, contents);
    }
}

fn rewrite_block(namespace: &str, block: &mut ContentBlock) {
    match block {
        ContentBlock::ResourceLink(link) => rewrite_uri(namespace, &mut link.uri),
        ContentBlock::Resource(embedded) => rewrite_contents(namespace, &mut embedded.resource),
        _ => {}
    }
}

fn rewrite_contents(namespace: &str, contents: &mut ResourceContents) {
    match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => rewrite_uri(namespace, uri),
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

fn rewrite_uri(namespace: &str, uri: &mut String) {
    if let Some(routed) = namespaced(namespace, uri) {
        *uri = routed;
    }
}

/// Namespace a tool's MCP Apps UI resource (`_meta.ui.resourceUri`, and the older flat
/// `ui/resourceUri` key), so the host fetches it through the gateway.
pub fn rewrite_tool_meta(namespace: &str, tool: &mut Tool) {
    let Some(meta) = tool.meta.as_mut() else {
        return;
    };
    if let Some(Value::Object(ui)) = meta.get_mut("ui")
        && let Some(Value::String(uri)) = ui.get_mut("resourceUri")
    {
        rewrite_uri(namespace, uri);
    }
    if let Some(Value::String(uri)) = meta.get_mut("ui/resourceUri") {
        rewrite_uri(namespace, uri);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_uris_keep_their_scheme_and_route_back() {
        for (uri, routed) in [
            ("ui://widget/app.html", "ui://files/widget/app.html"),
            ("file:///srv/a.txt", "file://files//srv/a.txt"),
            (
                "https://example.com/x?y=1",
                "https://files/example.com/x?y=1",
            ),
            ("urn:isbn:123", "urn:files/isbn:123"),
            ("test://static/{id}", "test://files/static/{id}"),
        ] {
            assert_eq!(namespaced("files", uri).as_deref(), Some(routed), "{uri}");
            assert_eq!(
                upstream_uri("files", routed).as_deref(),
                Some(uri),
                "{routed}"
            );
        }
        assert_eq!(namespaced("files", "no-scheme"), None);
        assert_eq!(namespaced("files", "1bad://x"), None);
        assert_eq!(upstream_uri("files", "ui://other/app.html"), None);
        assert_eq!(upstream_uri("files", "ui://filesystem/app.html"), None);
    }

    #[test]
    fn a_prefix_less_upstream_offers_its_uris_unchanged() {
        let mut config = crate::upstream::tests::config(&["*"], &[]);
        config.resources.allow = vec!["*".into()];
        let listed = vec![Resource::new("test://static-text", "text")];
        assert_eq!(
            expose_resources(&config, listed.clone())[0].uri,
            "test://files/static-text"
        );
        config.prefix = String::new();
        assert_eq!(namespace(&config), None);
        assert_eq!(
            expose_resources(&config, listed)[0].uri,
            "test://static-text"
        );
        assert_eq!(
            own(None, "test://static-text").as_deref(),
            Some("test://static-text")
        );
    }
}
