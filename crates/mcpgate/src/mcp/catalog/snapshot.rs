//! One immutable state of the catalog, and the builder that makes it from its sources.
//!
//! Building has no side effects: it reads each source's offer, applies the configured disabled
//! tools, refuses bad names, duplicates and schemas that do not compile, and orders every list.
//! A source whose offer has such a problem is left out whole (quarantined, with the reason);
//! the caller decides whether that is fatal (a native module at start-up) or not.
//!
//! Every listed item has a sort key that never changes while the item stays listed: the rank of
//! its source, then an ordinal given when the item was first seen. Pages are cut by key, so a
//! list that changes between pages never repeats or skips an item present throughout.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::{CatalogError, uri_template};
use crate::edge::{Access, Policy, Principal, ToolFacts};
use crate::mcp::{Module, ToolSpec};
use crate::telemetry::{Metrics, ToolMetrics};

/// Where an item sorts: its source's rank, then its ordinal.
pub type Key = (u64, u64);

/// One registered tool with what the catalog derived from it.
pub struct Entry {
    /// The tool and its code.
    pub spec: ToolSpec,
    /// The source that offers it.
    pub source: Arc<str>,
    /// Its call metrics.
    pub metrics: ToolMetrics,
    /// The name its source gives it (the listed name without the source's prefix).
    pub offered_as: Arc<str>,
    pub(super) key: Key,
    validator: Arc<jsonschema::Validator>,
}

impl Entry {
    /// Check arguments against the tool's input schema. The message names every failing field.
    pub fn validate(&self, arguments: &serde_json::Value) -> Result<(), String> {
        if self.validator.is_valid(arguments) {
            return Ok(());
        }
        let problems: Vec<String> = self
            .validator
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
            return Ok(());
        }
        Err(format!(
            "invalid arguments for tool {}: {}",
            self.spec.tool.name,
            problems.join("; ")
        ))
    }

    /// Whether the tool's annotations say it only reads.
    pub fn read_only(&self) -> bool {
        self.spec
            .tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false)
    }
}

/// An item of a resource, template or prompt list, with its source and key.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The item.
    pub item: T,
    /// Index of its source in [`Snapshot::sources`].
    pub source: usize,
    pub(super) key: Key,
}

/// A source that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The source's name.
    pub source: String,
    /// What is wrong with its offer.
    pub reason: String,
}

/// One state of the catalog. Readers hold it for as long as they need it; the catalog swaps in
/// a new one when a source changes.
#[derive(Default)]
pub struct Snapshot {
    /// The sources, in rank order (quarantined ones included: they still own their tasks).
    pub sources: Vec<Arc<dyn Module>>,
    pub(super) tools: Vec<Entry>,
    pub(super) by_name: HashMap<String, usize>,
    pub(super) resources: Vec<Listed<Resource>>,
    pub(super) templates: Vec<Listed<ResourceTemplate>>,
    pub(super) prompts: Vec<Listed<Prompt>>,
    /// Sources left out of this snapshot.
    pub quarantined: Vec<Quarantined>,
}

impl Snapshot {
    /// A tool by name, whoever asks.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Listed tool names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|e| &*e.spec.tool.name)
    }

    /// Number of listed tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is listed.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The source that lists the resource `uri`, or else the first whose template matches it;
    /// with the name the policy knows it by (the URI, or the template).
    pub(super) fn resource_owner(&self, uri: &str) -> Option<(usize, &str)> {
        self.resources
            .iter()
            .find(|r| r.item.uri == uri)
            .map(|l| (l.source, l.item.uri.as_str()))
            .or_else(|| {
                self.templates
                    .iter()
                    .find(|t| uri_template::matches(&t.item.uri_template, uri))
                    .map(|l| (l.source, l.item.uri_template.as_str()))
            })
    }

    /// The source that lists the prompt `name`.
    pub(super) fn prompt_owner(&self, name: &str) -> Option<usize> {
        Some(self.prompts.iter().find(|p| p.item.name == name)?.source)
    }

    /// The source that lists the resource template `uri_template`.
    pub(super) fn template_owner(&self, uri_template: &str) -> Option<usize> {
        let listed = self
            .templates
            .iter()
            .find(|t| t.item.uri_template == uri_template)?;
        Some(listed.source)
    }

    /// Whether the tool, resource, template or prompt lists differ from `other`'s.
    pub(super) fn changes_from(&self, other: &Snapshot) -> Changes {
        fn differ<T: PartialEq>(a: &[Listed<T>], b: &[Listed<T>]) -> bool {
            a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.item != y.item)
        }
        Changes {
            tools: self.tools.len() != other.tools.len()
                || self
                    .tools
                    .iter()
                    .zip(&other.tools)
                    .any(|(a, b)| a.spec.tool != b.spec.tool),
            resources: differ(&self.resources, &other.resources)
                || differ(&self.templates, &other.templates),
            prompts: differ(&self.prompts, &other.prompts),
        }
    }
}

/// Which lists changed between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Changes {
    pub tools: bool,
    pub resources: bool,
    pub prompts: bool,
}

/// The ordinals given so far, per kind of item, so an item keeps its place while it stays.
#[derive(Debug, Default)]
pub(super) struct Ordinals {
    next: u64,
    given: HashMap<(u8, String), u64>,
}

impl Ordinals {
    fn of(&mut self, kind: u8, name: &str) -> u64 {
        if let Some(&ordinal) = self.given.get(&(kind, name.to_owned())) {
            return ordinal;
        }
        self.next += 1;
        self.given.insert((kind, name.to_owned()), self.next);
        self.next
    }

    /// Forget items no longer listed (one that comes back sorts as new).
    fn keep_only(&mut self, listed: &HashSet<(u8, String)>) {
        self.given.retain(|k, _| listed.contains(k));
    }
}

const TOOL: u8 = 0;
const RESOURCE: u8 = 1;
const TEMPLATE: u8 = 2;
const PROMPT: u8 = 3;

/// A source in the builder's hands: its rank and what it is.
pub(super) struct Ranked {
    pub rank: u64,
    pub module: Arc<dyn Module>,
    /// Put before each tool name the source offers (empty: names as offered).
    pub prefix: Arc<str>,
}

/// What building needs besides the sources.
pub(super) struct Settings<'a> {
    pub disabled: &'a [String],
    pub metrics: &'a Metrics,
}

fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Build a snapshot of `sources` (in rank order). A source whose offer has a problem is left
/// out and quarantined; the problems are also returned, by source, for callers that treat them
/// as fatal.
pub(super) fn build(
    sources: &[Ranked],
    settings: &Settings<'_>,
    ordinals: &mut Ordinals,
) -> (Snapshot, Vec<(String, CatalogError)>) {
    let mut snapshot = Snapshot::default();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut owner: HashMap<String, Arc<str>> = HashMap::new();
    for (index, ranked) in sources.iter().enumerate() {
        let module = &ranked.module;
        let name: Arc<str> = module.name().into();
        snapshot.sources.push(Arc::clone(module));
        let tools = match checked_tools(ranked, &name, settings.disabled, &owner) {
            Ok(tools) => tools,
            Err(problem) => {
                snapshot.quarantined.push(Quarantined {
                    source: name.to_string(),
                    reason: problem.to_string(),
                });
                problems.push((name.to_string(), problem));
                continue;
            }
        };
        for (spec, offered_as, validator) in tools {
            let tool_name = spec.tool.name.to_string();
            let key = (ranked.rank, ordinals.of(TOOL, &tool_name));
            seen.insert((TOOL, tool_name.clone()));
            owner.insert(tool_name.clone(), Arc::clone(&name));
            snapshot
                .by_name
                .insert(tool_name.clone(), snapshot.tools.len());
            snapshot.tools.push(Entry {
                metrics: settings.metrics.tool(&tool_name),
                offered_as,
                spec,
                source: Arc::clone(&name),
                key,
                validator,
            });
        }
        let mut list = |kind: u8, id: &str| {
            seen.insert((kind, id.to_owned()));
            (ranked.rank, ordinals.of(kind, id))
        };
        listed(&mut snapshot.resources, module.resources(), index, |r| {
            list(RESOURCE, &r.uri)
        });
        listed(
            &mut snapshot.templates,
            module.resource_templates(),
            index,
            |t| list(TEMPLATE, &t.uri_template),
        );
        listed(&mut snapshot.prompts, module.prompts(), index, |p| {
            list(PROMPT, &p.name)
        });
    }
    ordinals.keep_only(&seen);
    sort(&mut snapshot);
    (snapshot, problems)
}

/// Append `items` of the source at `source` to `list`, each with the key `key` gives it.
fn listed<T>(
    list: &mut Vec<Listed<T>>,
    items: Vec<T>,
    source: usize,
    mut key: impl FnMut(&T) -> Key,
) {
    list.extend(items.into_iter().map(|item| Listed {
        key: key(&item),
        item,
        source,
    }));
}

/// A source's tools under their listed names (with the source's prefix), each with the name
/// the source gives it, checked against what earlier sources registered; all or nothing.
#[allow(clippy::type_complexity)]
fn checked_tools(
    ranked: &Ranked,
    source: &Arc<str>,
    disabled: &[String],
    owner: &HashMap<String, Arc<str>>,
) -> Result<Vec<(ToolSpec, Arc<str>, Arc<jsonschema::Validator>)>, CatalogError> {
    let mut mine = HashSet::new();
    let mut out = Vec::new();
    for mut spec in Arc::clone(&ranked.module).tools() {
        let offered_as: Arc<str> = spec.tool.name.as_ref().into();
        if !ranked.prefix.is_empty() {
            spec.tool.name = format!("{}{offered_as}", ranked.prefix).into();
        }
        let name = spec.tool.name.to_string();
        if !valid_tool_name(&name) {
            return Err(CatalogError::BadName(name));
        }
        if let Some(first) = owner.get(&name) {
            return Err(CatalogError::Duplicate {
                name,
                first: first.to_string(),
                second: source.to_string(),
            });
        }
        if !mine.insert(name.clone()) {
            return Err(CatalogError::Duplicate {
                name,
                first: source.to_string(),
                second: source.to_string(),
            });
        }
        if disabled.contains(&name) {
            continue;
        }
        let schema = serde_json::Value::Object((*spec.tool.input_schema).clone());
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| CatalogError::BadSchema {
                name: name.clone(),
                message: e.to_string(),
            })?;
        out.push((spec, offered_as, Arc::new(validator)));
    }
    Ok(out)
}

fn sort(snapshot: &mut Snapshot) {
    snapshot.tools.sort_by_key(|e| e.key);
    snapshot.by_name = snapshot
        .tools
        .iter()
        .enumerate()
        .map(|(i, e)| (e.spec.tool.name.to_string(), i))
        .collect();
    snapshot.resources.sort_by_key(|l| l.key);
    snapshot.templates.sort_by_key(|l| l.key);
    snapshot.prompts.sort_by_key(|l| l.key);
}

/// Whether `principal` may use `entry` under `policy`.
pub fn access(policy: &Policy, principal: &Principal, entry: &Entry) -> Access {
    policy.access(
        principal,
        ToolFacts {
            name: &entry.spec.tool.name,
            module: &entry.source,
            read_only: entry.read_only(),
        },
    )
}

/// Whether `principal` may see a resource, template or prompt `name` of `source`: they only
/// read, so role defaults show them to everyone and rules may withhold them.
pub fn may_see(policy: &Policy, principal: &Principal, source: &str, name: &str) -> bool {
    policy
        .access(
            principal,
            ToolFacts {
                name,
                module: source,
                read_only: true,
            },
        )
        .allowed()
}

impl Snapshot {
    /// The tool list as a caller sees it (for the handler's pages).
    pub(super) fn tool_list(&self) -> &[Entry] {
        &self.tools
    }

    /// What the capabilities of a server with this snapshot are.
    pub fn has_resources(&self) -> bool {
        !self.resources.is_empty() || !self.templates.is_empty()
    }

    /// Whether any prompt is listed.
    pub fn has_prompts(&self) -> bool {
        !self.prompts.is_empty()
    }

    /// The tool descriptions, by name (for rmcp's header validation).
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.entry(name).map(|e| &e.spec.tool)
    }
}
