//! The input shapes the REST API shares with the MCP tools: list filters, search parameters,
//! record IDs, merge patches and process actions come from the same schema builders as the
//! `workspace` tools' arguments, so a query parameter and the tool argument of the same name
//! cannot disagree on enums, bounds or descriptions. Record bodies come from
//! `workspace::fields` and `workspace::view` directly.

use serde_json::{Value, json};

use crate::modules::workspace::schemas;
use crate::workspace::{Kind, WorkspaceLimits};

/// The tool argument schemas, for the limits in force.
pub struct Shapes {
    limits: WorkspaceLimits,
}

impl Shapes {
    /// The shapes under `limits` (page-size bounds appear in list and search schemas).
    pub fn new(limits: &WorkspaceLimits) -> Self {
        Self {
            limits: limits.clone(),
        }
    }

    /// `list_<plural>`: the query parameters of a list, as one object schema.
    pub fn list(&self, kind: Kind) -> Value {
        schemas::list(kind, &self.limits)
    }

    /// The `id` path parameter of a kind.
    pub fn id(&self, kind: Kind) -> Value {
        schemas::by_id(kind)["properties"]["id"].clone()
    }

    /// The merge patch body of `patch_<singular>`.
    pub fn merge_patch(&self, kind: Kind) -> Value {
        schemas::patch(kind)["properties"]["patch"].clone()
    }

    /// The body of `POST …/{id}/process`: `process_<singular>`'s arguments less `id` and
    /// `version` (those come from the path and `If-Match`).
    pub fn process(&self, kind: Kind) -> Value {
        let action = schemas::process(kind)["properties"]["action"].clone();
        let example = kind
            .transitions()
            .first()
            .map(|t| json!({"action": t.action}))
            .unwrap_or(Value::Null);
        json!({
            "type": "object",
            "description": format!("A named state change of a {}.", kind.label()),
            "properties": {"action": action},
            "required": ["action"],
            "additionalProperties": false,
            "examples": [example]
        })
    }

    /// `search`: its query parameters, as one object schema.
    pub fn search(&self) -> Value {
        schemas::search(&self.limits)
    }

    /// The `id` path parameter of `fetch`.
    pub fn fetch_id(&self) -> Value {
        schemas::fetch()["properties"]["id"].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_the_api_uses_is_defined() {
        let shapes = Shapes::new(&crate::config::Config::defaults().workspace.limits());
        for kind in Kind::ALL {
            assert_eq!(shapes.list(kind)["type"], "object", "{kind}");
            assert_eq!(shapes.id(kind)["type"], "string", "{kind}");
            assert_eq!(shapes.merge_patch(kind)["type"], "object", "{kind}");
            let actions = &shapes.process(kind)["properties"]["action"]["enum"];
            assert!(actions.as_array().is_some_and(|a| !a.is_empty()), "{kind}");
        }
        assert!(shapes.search()["properties"]["query"].is_object());
        assert_eq!(shapes.fetch_id()["type"], "string");
    }
}
