//! The catalog: the single ordered list of tools a caller may see. Modules register into it at
//! start-up; it drops disabled tools, refuses duplicates, compiles each input schema once,
//! filters by the caller's role, and pages with opaque cursors.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::Tool;

use super::{Cursor, ToolSpec};
use crate::edge::{Access, Policy, Principal, ToolFacts};

/// A problem registering tools.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Two registrations used one name.
    #[error("tool {name:?} is registered twice (modules {first} and {second})")]
    Duplicate {
        /// The tool name.
        name: String,
        /// The module that registered it first.
        first: String,
        /// The module that registered it again.
        second: String,
    },
    /// A tool's name breaks the spec's naming rule.
    #[error("tool name {0:?} must be 1-128 characters of A-Z a-z 0-9 _ . -")]
    BadName(String),
    /// A tool's input schema does not compile.
    #[error("tool {name:?} has an invalid input schema: {message}")]
    BadSchema {
        /// The tool name.
        name: String,
        /// The compiler's complaint.
        message: String,
    },
    /// A disabled-tools entry names no registered tool (likely a typo).
    #[error("disabled tool {0:?} is not registered by any enabled module")]
    UnknownDisabled(String),
}

/// One registered tool with what the catalog derived from it.
pub struct Entry {
    /// The tool and its code.
    pub spec: ToolSpec,
    /// The module that registered it.
    pub module: &'static str,
    validator: Option<Arc<jsonschema::Validator>>,
}

impl Entry {
    /// Check arguments against the tool's input schema. The message names every failing field.
    pub fn validate(&self, arguments: &serde_json::Value) -> Result<(), String> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        if validator.is_valid(arguments) {
            return Ok(());
        }
        let problems: Vec<String> = validator
            .iter_errors(arguments)
            .take(10)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "invalid arguments for tool {}: {}",
                self.spec.tool.name,
                problems.join("; ")
            ))
        }
    }
}

/// The ordered tool registry.
#[derive(Default)]
pub struct Catalog {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    page_size: usize,
    policy: Policy,
}

fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Catalog {
    /// An empty catalog listing `page_size` tools per page.
    pub fn new(page_size: usize) -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
            page_size: page_size.max(1),
            policy: Policy::default(),
        }
    }

    /// Decide who may use which tool with `policy` (role defaults when not set).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether `principal` may use `entry`.
    pub fn access(&self, principal: &Principal, entry: &Entry) -> Access {
        let read_only = entry
            .spec
            .tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        self.policy.access(
            principal,
            ToolFacts {
                name: &entry.spec.tool.name,
                module: entry.module,
                read_only,
            },
        )
    }

    /// Register a module's tools in order.
    pub fn register(
        &mut self,
        module: &'static str,
        specs: Vec<ToolSpec>,
    ) -> Result<(), CatalogError> {
        for spec in specs {
            let name = spec.tool.name.to_string();
            if !valid_tool_name(&name) {
                return Err(CatalogError::BadName(name));
            }
            if let Some(&i) = self.index.get(&name) {
                return Err(CatalogError::Duplicate {
                    name,
                    first: self.entries[i].module.to_owned(),
                    second: module.to_owned(),
                });
            }
            let schema = serde_json::Value::Object((*spec.tool.input_schema).clone());
            let validator =
                jsonschema::validator_for(&schema).map_err(|e| CatalogError::BadSchema {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
            self.index.insert(name, self.entries.len());
            self.entries.push(Entry {
                spec,
                module,
                validator: Some(Arc::new(validator)),
            });
        }
        Ok(())
    }

    /// Remove tools by name; every name must exist.
    pub fn disable(&mut self, names: &[String]) -> Result<(), CatalogError> {
        for name in names {
            if !self.index.contains_key(name) {
                return Err(CatalogError::UnknownDisabled(name.clone()));
            }
        }
        self.entries
            .retain(|e| !names.iter().any(|n| *n == *e.spec.tool.name));
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.spec.tool.name.to_string(), i))
            .collect();
        Ok(())
    }

    /// Registered tool names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| &*e.spec.tool.name)
    }

    /// Number of registered tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A tool by name, if `principal` may use it.
    pub fn get(&self, name: &str, principal: &Principal) -> Option<&Entry> {
        let entry = &self.entries[*self.index.get(name)?];
        self.access(principal, entry).allowed().then_some(entry)
    }

    /// A tool's description by name, regardless of caller (for rmcp's header validation).
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.index.get(name).map(|&i| &self.entries[i].spec.tool)
    }

    /// One page of the tools `principal` may use, and the cursor of the next page. `None` when
    /// the cursor is not one this server minted.
    pub fn page(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
    ) -> Option<(Vec<Tool>, Option<String>)> {
        let start = match cursor {
            Some(text) => Cursor::decode(text)?.offset,
            None => 0,
        };
        let visible: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| self.access(principal, e).allowed())
            .collect();
        if start > visible.len() {
            return None;
        }
        let end = (start + self.page_size).min(visible.len());
        let tools = visible[start..end]
            .iter()
            .map(|e| e.spec.tool.clone())
            .collect();
        let next = (end < visible.len()).then(|| Cursor { offset: end }.encode());
        Some((tools, next))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, ToolAnnotations};

    use super::*;
    use crate::edge::AuthVia;

    fn spec(name: &str, read_only: bool) -> ToolSpec {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1}},
            "additionalProperties": false
        });
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        let tool = Tool::new(name.to_owned(), "t", Arc::new(schema))
            .with_annotations(ToolAnnotations::new().read_only(read_only));
        ToolSpec::new(tool, |_, _| async {
            Ok(CallToolResult::success(vec![]).into())
        })
    }

    fn who(role: &str) -> Principal {
        Principal::new("u", "o", role, AuthVia::Default)
    }

    #[test]
    fn pages_follow_registration_order_and_cursors() {
        let mut c = Catalog::new(2);
        c.register("m", vec![spec("b", true), spec("a", true), spec("c", true)])
            .expect("register");
        let (first, next) = c.page(&who("admin"), None).expect("page");
        assert_eq!(
            first.iter().map(|t| &*t.name).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let (second, last) = c.page(&who("admin"), next.as_deref()).expect("page");
        assert_eq!(second.iter().map(|t| &*t.name).collect::<Vec<_>>(), ["c"]);
        assert!(last.is_none());
        assert!(c.page(&who("admin"), Some("garbage")).is_none());
    }

    #[test]
    fn viewers_see_only_read_only_tools() {
        let mut c = Catalog::new(10);
        c.register("workspace", vec![spec("read", true), spec("write", false)])
            .expect("register");
        let (tools, _) = c.page(&who("viewer"), None).expect("page");
        assert_eq!(tools.len(), 1);
        assert!(c.get("write", &who("viewer")).is_none());
        assert!(c.get("write", &who("editor")).is_some());
    }

    #[test]
    fn duplicates_bad_names_and_unknown_disabled_tools_are_refused() {
        let mut c = Catalog::new(10);
        c.register("m", vec![spec("a", true)]).expect("register");
        assert!(matches!(
            c.register("n", vec![spec("a", true)]),
            Err(CatalogError::Duplicate { .. })
        ));
        assert!(matches!(
            c.register("n", vec![spec("a b", true)]),
            Err(CatalogError::BadName(_))
        ));
        assert!(c.disable(&["nope".into()]).is_err());
        c.disable(&["a".into()]).expect("disable");
        assert!(c.is_empty());
    }

    #[test]
    fn arguments_are_validated_against_the_schema() {
        let mut c = Catalog::new(10);
        c.register("m", vec![spec("a", true)]).expect("register");
        let entry = c.get("a", &who("admin")).expect("entry");
        let good = serde_json::json!({"n": 3});
        assert!(entry.validate(&good).is_ok());
        let bad = serde_json::json!({"n": 0, "x": 1});
        let message = entry.validate(&bad).expect_err("invalid");
        assert!(message.contains("/n"), "{message}");
    }
}
