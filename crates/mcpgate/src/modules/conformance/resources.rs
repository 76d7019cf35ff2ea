//! The fixture resources: a static text resource, a static binary one, a resource clients
//! subscribe to, and the template `test://template/{id}/data`, with completion of its `id`.
//! URIs outside this set are left to other modules, so an unknown one ends as the handler's
//! not-found error (`-32602` with `data.uri` under 2026-07-28).

use rmcp::ErrorData;
use rmcp::model::{
    CacheScope, CompleteRequestParams, CompleteResult, CompletionInfo, ReadResourceResult,
    Reference, Resource, ResourceContents, ResourceTemplate,
};
use serde_json::json;

use super::content::TEST_IMAGE_PNG;

/// The static text resource.
pub const STATIC_TEXT: &str = "test://static-text";
/// The static binary resource (a PNG).
pub const STATIC_BINARY: &str = "test://static-binary";
/// The resource clients subscribe to.
pub const WATCHED: &str = "test://watched-resource";
/// The resource template.
pub const TEMPLATE: &str = "test://template/{id}/data";

/// How long clients may reuse a fixture read: the contents never change.
const READ_TTL_MS: u64 = 60_000;

/// `id` values offered for the template.
const TEMPLATE_IDS: &[&str] = &["1", "2", "3", "123"];

/// The concrete resources.
pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "static-text")
            .with_title("Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY, "static-binary")
            .with_title("Static Binary Resource")
            .with_description("A static binary resource (a 1x1 PNG) for testing")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "watched-resource")
            .with_title("Watched Resource")
            .with_description("A resource to subscribe to")
            .with_mime_type("text/plain"),
    ]
}

/// The resource templates.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "template-data")
            .with_title("Template Data")
            .with_description("JSON data for any id, substituted from the URI")
            .with_mime_type("application/json"),
    ]
}

/// Read `uri`, or `None` when it is not a fixture resource.
pub fn read(uri: &str) -> Option<ReadResourceResult> {
    let contents = match uri {
        STATIC_TEXT => {
            ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain")
        }
        STATIC_BINARY => ResourceContents::blob(TEST_IMAGE_PNG, uri).with_mime_type("image/png"),
        WATCHED => {
            ResourceContents::text("Watched resource content", uri).with_mime_type("text/plain")
        }
        _ => {
            let id = match_template(TEMPLATE, uri)?
                .into_iter()
                .find_map(|(name, value)| (name == "id").then_some(value))?;
            let body =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
        }
    };
    Some(
        ReadResourceResult::new(vec![contents])
            .with_ttl_ms(READ_TTL_MS)
            .with_cache_scope(CacheScope::Public),
    )
}

/// Complete the template's `id`, or `None` when the reference is not the template.
pub fn complete(params: &CompleteRequestParams) -> Option<Result<CompleteResult, ErrorData>> {
    let Reference::Resource(reference) = &params.r#ref else {
        return None;
    };
    if reference.uri != TEMPLATE {
        return None;
    }
    let values = if params.argument.name == "id" {
        TEMPLATE_IDS
            .iter()
            .filter(|id| id.starts_with(params.argument.value.as_str()))
            .map(|id| (*id).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    Some(
        CompletionInfo::new(values)
            .map(CompleteResult::new)
            .map_err(|e| ErrorData::internal_error(e, None)),
    )
}

/// Match `uri` against a level-1 URI template (`{name}` expressions, each standing for one
/// non-empty run of characters other than `/`). Returns the variables in order, or `None`.
pub fn match_template(template: &str, uri: &str) -> Option<Vec<(String, String)>> {
    let mut vars = Vec::new();
    let mut rest_template = template;
    let mut rest_uri = uri;
    while let Some(open) = rest_template.find('{') {
        let literal = &rest_template[..open];
        rest_uri = rest_uri.strip_prefix(literal)?;
        let close = open + rest_template[open..].find('}')?;
        let name = &rest_template[open + 1..close];
        rest_template = &rest_template[close + 1..];
        // The value runs to the next literal character of the template, or to the next `/`.
        let stop = rest_template.chars().next();
        let end = rest_uri
            .char_indices()
            .find(|&(_, c)| c == '/' || Some(c) == stop)
            .map_or(rest_uri.len(), |(i, _)| i);
        if end == 0 {
            return None;
        }
        vars.push((name.to_owned(), rest_uri[..end].to_owned()));
        rest_uri = &rest_uri[end..];
    }
    (rest_uri == rest_template).then_some(vars)
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ArgumentInfo, ResourceTemplateReference};

    use super::*;

    fn var(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn templates_match_whole_segments_only() {
        assert_eq!(
            match_template(TEMPLATE, "test://template/123/data"),
            Some(vec![var("id", "123")])
        );
        assert_eq!(match_template(TEMPLATE, "test://template//data"), None);
        assert_eq!(match_template(TEMPLATE, "test://template/1/2/data"), None);
        assert_eq!(
            match_template(TEMPLATE, "test://template/1/data/more"),
            None
        );
        assert_eq!(match_template(TEMPLATE, "test://other/1/data"), None);
        assert_eq!(
            match_template("a://{x}-{y}", "a://left-right"),
            Some(vec![var("x", "left"), var("y", "right")])
        );
        assert_eq!(match_template("a://fixed", "a://fixed"), Some(vec![]));
    }

    #[test]
    fn template_reads_substitute_the_id_and_unknown_uris_are_not_ours() {
        let result = read("test://template/42/data").expect("template read");
        let ResourceContents::TextResourceContents { text, .. } = &result.contents[0] else {
            panic!("text contents expected")
        };
        assert!(text.contains("\"id\":\"42\""), "{text}");
        assert!(read("test://nonexistent-resource-for-conformance-testing").is_none());
        assert!(read("test://template/42").is_none());
    }

    #[test]
    fn template_ids_complete_by_prefix() {
        let params = CompleteRequestParams::new(
            Reference::Resource(ResourceTemplateReference::new(TEMPLATE)),
            ArgumentInfo::new("id", "1"),
        );
        let result = complete(&params).expect("ours").expect("completes");
        assert_eq!(result.completion.values, ["1", "123"]);
    }
}
