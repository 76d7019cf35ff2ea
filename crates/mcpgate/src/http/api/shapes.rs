//! The input shapes the REST API shares with the MCP tools: list filters, search parameters,
//! record IDs, merge patches and process actions are read from the `workspace` module's own
//! tool definitions, so a query parameter and the tool argument of the same name cannot
//! disagree on enums, bounds or descriptions. Record bodies come from `workspace::fields` and
//! `workspace::view` directly.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::mcp::Module;
use crate::modules::workspace::WorkspaceModule;
use crate::workspace::{Kind, WorkspaceService};

/// The workspace tools' definitions, by name.
pub struct Shapes {
    tools: HashMap<String, Tool>,
}

impl Shapes {
    /// The shapes of the tools over `service` (write tools included: the REST API documents
    /// and validates them even when writes are off).
    pub fn new(service: &Arc<WorkspaceService>) -> Self {
        let module = Arc::new(WorkspaceModule::new(Arc::clone(service), true));
        let tools = module
            .tools()
            .into_iter()
            .map(|spec| (spec.tool.name.to_string(), spec.tool))
            .collect();
        Self { tools }
    }

    fn tool(&self, name: &str) -> &Tool {
        self.tools
            .get(name)
            .unwrap_or_else(|| panic!("the workspace module defines no tool {name:?}"))
    }

    /// The input schema of tool `name`.
    pub fn input(&self, name: &str) -> Value {
        Value::Object((*self.tool(name).input_schema).clone())
    }

    /// The title of tool `name`.
    pub fn title(&self, name: &str) -> String {
        self.tool(name)
            .title
            .clone()
            .unwrap_or_else(|| name.to_owned())
    }

    fn property(&self, tool: &str, name: &str) -> Value {
        self.input(tool)["properties"][name].clone()
    }

    /// `list_<plural>`: the query parameters of a list, as one object schema.
    pub fn list(&self, kind: Kind) -> Value {
        self.input(&format!("list_{}", kind.plural()))
    }

    /// The `id` path parameter of a kind.
    pub fn id(&self, kind: Kind) -> Value {
        self.property(&format!("get_{}", kind.singular()), "id")
    }

    /// The merge patch body of `patch_<singular>`.
    pub fn merge_patch(&self, kind: Kind) -> Value {
        self.property(&format!("patch_{}", kind.singular()), "patch")
    }

    /// The body of `POST …/{id}/process`: `process_<singular>`'s arguments less `id` and
    /// `version` (those come from the path and `If-Match`).
    pub fn process(&self, kind: Kind) -> Value {
        let action = self.property(&format!("process_{}", kind.singular()), "action");
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
        self.input("search")
    }

    /// The `id` path parameter of `fetch`.
    pub fn fetch_id(&self) -> Value {
        self.property("fetch", "id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_shape_the_api_uses_is_defined() {
        let shapes = Shapes::new(&super::super::tests::service().await);
        for kind in Kind::ALL {
            assert_eq!(shapes.list(kind)["type"], "object", "{kind}");
            assert_eq!(shapes.id(kind)["type"], "string", "{kind}");
            assert_eq!(shapes.merge_patch(kind)["type"], "object", "{kind}");
            let actions = &shapes.process(kind)["properties"]["action"]["enum"];
            assert!(actions.as_array().is_some_and(|a| !a.is_empty()), "{kind}");
        }
        assert!(shapes.search()["properties"]["query"].is_object());
        assert_eq!(shapes.fetch_id()["type"], "string");
        assert_eq!(shapes.title("list_notes"), "List notes");
    }
}
