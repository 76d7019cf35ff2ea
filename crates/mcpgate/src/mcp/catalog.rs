//! The catalog: what this server offers — tools, resources, resource templates and prompts —
//! as one live, ordered list that every caller is filtered from.
//!
//! Readers load the current [`Snapshot`] without a lock; one writer at a time rebuilds it from
//! the **sources** (native modules today, upstream servers next) and swaps it in, then
//! announces which lists changed to every legacy session and `subscriptions/listen` stream. A
//! source tells the catalog it changed through the [`SourceChanges`] it was given. A source
//! whose offer is bad (a duplicate or malformed name, a schema that does not compile) is
//! quarantined with the reason; for a native module added at start-up that is an error
//! instead. A source may be added with a prefix (the naming hook): its tools are listed,
//! disabled, authorized and limited under `prefix` + their own name, and called under their
//! own name.
//!
//! Whether a caller may use a tool is decided here, once, for MCP and REST alike
//! ([`Catalog::authorize`]); which source serves a resource or prompt, likewise
//! ([`Catalog::resource_source`], [`Catalog::prompt_source`]).

mod decision;
mod snapshot;
#[cfg(test)]
mod tests;
mod uri_template;

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use arc_swap::ArcSwap;
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::module::Refresh;
use super::{Cursor, EventBus, Module, ServerEvent, SourceChanges};
use crate::edge::{Access, Limits, Policy, Principal};
use crate::telemetry::Metrics;
pub use decision::{Granted, Refused};
pub use snapshot::{Entry, Quarantined, Snapshot};
use snapshot::{Key, Ordinals, Ranked, Settings};

/// A problem with a source's offer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// Two registrations used one name.
    #[error("tool {name:?} is registered twice (modules {first} and {second})")]
    Duplicate {
        /// The tool name.
        name: String,
        /// The source that registered it first.
        first: String,
        /// The source that registered it again.
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
    /// A source of that name is already in the catalog.
    #[error("a source named {0:?} is already in the catalog")]
    DuplicateSource(String),
}

/// Every name in `disabled` is one of `offered`, or under one of `upstream_prefixes` (left to
/// its upstream, which may be unreachable now).
fn check_disabled(
    disabled: &[String],
    offered: &std::collections::HashSet<String>,
    upstream_prefixes: &[&str],
) -> Result<(), CatalogError> {
    match disabled.iter().find(|name| {
        !offered.contains(*name)
            && !upstream_prefixes
                .iter()
                .any(|p| !p.is_empty() && name.starts_with(p))
    }) {
        Some(name) => Err(CatalogError::UnknownDisabled(name.clone())),
        None => Ok(()),
    }
}

/// What the catalog is configured with.
pub struct CatalogSettings {
    /// Items per page of every list.
    pub page_size: usize,
    /// Who may use which tool (role defaults when it has no rules).
    pub policy: Policy,
    /// Tools switched off (`modules.disabled_tools`).
    pub disabled: Vec<String>,
    /// Per-tool rate limits (`[[rate_limit.tools]]`), when any limit is configured.
    pub limits: Option<Limits>,
    /// Where each tool's call metrics go.
    pub metrics: Metrics,
    /// Where list changes are announced.
    pub events: EventBus,
}

struct Writer {
    sources: Vec<Ranked>,
    ordinals: Ordinals,
    next_rank: u64,
}

struct Inner {
    current: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
    page_size: usize,
    metrics: Metrics,
    events: EventBus,
    /// What a reload may replace, swapped whole.
    live: ArcSwap<Live>,
}

/// The catalog's reloadable settings.
struct Live {
    policy: Policy,
    disabled: Vec<String>,
    limits: Option<Limits>,
}

/// The live catalog (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

/// A catalog handle that does not keep the catalog alive, for a source that reads it (the
/// `system` module reports the tool count and quarantined sources).
#[derive(Clone)]
pub struct WeakCatalog(Weak<Inner>);

impl WeakCatalog {
    /// The current snapshot (an empty one once the catalog is gone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0
            .upgrade()
            .map_or_else(Arc::default, |inner| inner.current.load_full())
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("tools", &self.snapshot().len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn rebuild(&self, writer: &mut Writer) -> Vec<(String, CatalogError)> {
        let live = self.live.load();
        let settings = Settings {
            disabled: &live.disabled,
            metrics: &self.metrics,
        };
        let Writer {
            sources, ordinals, ..
        } = writer;
        let (snapshot, problems) = snapshot::build(sources, &settings, ordinals);
        for Quarantined { source, reason } in &snapshot.quarantined {
            tracing::warn!(source, reason, "a tool source is quarantined");
        }
        let previous = self.current.swap(Arc::new(snapshot));
        let changes = self.current.load().changes_from(&previous);
        let events = &self.events;
        if changes.tools {
            events.publish(ServerEvent::ToolsListChanged);
        }
        if changes.resources {
            events.publish(ServerEvent::ResourcesListChanged);
        }
        if changes.prompts {
            events.publish(ServerEvent::PromptsListChanged);
        }
        problems
    }
}

impl Refresh for Inner {
    fn refresh(&self) {
        let mut writer = self.writer();
        self.rebuild(&mut writer);
    }
}

impl Catalog {
    /// An empty catalog.
    pub fn new(settings: CatalogSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(Snapshot::default()),
                writer: Mutex::new(Writer {
                    sources: Vec::new(),
                    ordinals: Ordinals::default(),
                    next_rank: 0,
                }),
                page_size: settings.page_size,
                metrics: settings.metrics,
                events: settings.events,
                live: ArcSwap::from_pointee(Live {
                    policy: settings.policy,
                    disabled: settings.disabled,
                    limits: settings.limits,
                }),
            }),
        }
    }

    /// A handle that does not keep the catalog alive.
    pub fn downgrade(&self) -> WeakCatalog {
        WeakCatalog(Arc::downgrade(&self.inner))
    }

    /// The current snapshot, to read as long as needed.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.current.load_full()
    }

    /// Replace the policy, the disabled tools and the per-tool rate limits (a reload), then
    /// rebuild and announce the list change (a rule may show or hide tools to some callers).
    /// A disabled name that no source offers (outside `upstream_prefixes`) refuses the whole
    /// change, and the old settings stay.
    pub fn reconfigure(
        &self,
        policy: Policy,
        disabled: Vec<String>,
        limits: Option<Limits>,
        upstream_prefixes: &[&str],
    ) -> Result<(), CatalogError> {
        check_disabled(&disabled, &self.registered_tools(), upstream_prefixes)?;
        let mut writer = self.inner.writer();
        self.inner.live.store(Arc::new(Live {
            policy,
            disabled,
            limits,
        }));
        self.inner.rebuild(&mut writer);
        self.inner.events.publish(ServerEvent::ToolsListChanged);
        Ok(())
    }

    /// A native module, added at start-up: a problem with its offer is an error, and the module
    /// is not added.
    pub fn add_native(&self, module: Arc<dyn Module>) -> Result<(), CatalogError> {
        let name = module.name().to_owned();
        let problem = self.add(module, "")?;
        match problem {
            Some(problem) => {
                self.remove_source(&name);
                Err(problem)
            }
            None => Ok(()),
        }
    }

    /// A source added at runtime: a problem with its offer quarantines it (see
    /// [`Snapshot::quarantined`]) and is returned.
    pub fn add_source(
        &self,
        module: Arc<dyn Module>,
    ) -> Result<Option<CatalogError>, CatalogError> {
        self.add(module, "")
    }

    /// A source added at runtime whose tools are listed as `prefix` + the name the source
    /// gives them (an upstream's `github__create_issue`); calls reach the source under its own
    /// name. Disabled tools, rules and limits name the listed tool.
    pub fn add_source_prefixed(
        &self,
        module: Arc<dyn Module>,
        prefix: &str,
    ) -> Result<Option<CatalogError>, CatalogError> {
        self.add(module, prefix)
    }

    fn add(
        &self,
        module: Arc<dyn Module>,
        prefix: &str,
    ) -> Result<Option<CatalogError>, CatalogError> {
        let name = module.name().to_owned();
        let inner: Arc<dyn Refresh> = self.inner.clone();
        module.attach(SourceChanges::new(Arc::downgrade(&inner)));
        let mut writer = self.inner.writer();
        if writer.sources.iter().any(|s| s.module.name() == name) {
            return Err(CatalogError::DuplicateSource(name));
        }
        let rank = writer.next_rank;
        writer.next_rank += 1;
        writer.sources.push(Ranked {
            rank,
            module,
            prefix: prefix.into(),
        });
        let problems = self.inner.rebuild(&mut writer);
        Ok(problems
            .into_iter()
            .find(|(source, _)| *source == name)
            .map(|(_, problem)| problem))
    }

    /// Take the source `name` out; whether there was one.
    pub fn remove_source(&self, name: &str) -> bool {
        let mut writer = self.inner.writer();
        let before = writer.sources.len();
        writer.sources.retain(|s| s.module.name() != name);
        if writer.sources.len() == before {
            return false;
        }
        self.inner.rebuild(&mut writer);
        true
    }

    /// Rebuild from every source's current offer, and announce what changed.
    pub fn refresh(&self) {
        self.inner.refresh();
    }

    /// Check that every disabled tool is one of `offered` (what [`Self::registered_tools`]
    /// gave; a typo is a start-up error). Names under one of `upstream_prefixes` are left to
    /// their upstream, which may be unreachable now.
    pub fn check_disabled(
        &self,
        offered: &std::collections::HashSet<String>,
        upstream_prefixes: &[&str],
    ) -> Result<(), CatalogError> {
        check_disabled(&self.inner.live.load().disabled, offered, upstream_prefixes)
    }

    /// The names of the tools the registered sources offer now.
    pub fn registered_tools(&self) -> std::collections::HashSet<String> {
        let writer = self.inner.writer();
        let mut offered = std::collections::HashSet::new();
        for source in &writer.sources {
            for spec in Arc::clone(&source.module).tools() {
                offered.insert(spec.tool.name.to_string());
            }
        }
        offered
    }

    /// Whether `principal` may use `entry`.
    pub fn access(&self, principal: &Principal, entry: &Entry) -> Access {
        snapshot::access(&self.inner.live.load().policy, principal, entry)
    }

    /// One page of the tools `principal` may use, and the cursor of the next page. `None` when
    /// the cursor is not one this server minted.
    pub fn tools_page(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
    ) -> Option<(Vec<Tool>, Option<String>)> {
        let snapshot = self.snapshot();
        self.page(
            snapshot.tool_list(),
            |e| e.key,
            |e| self.access(principal, e).allowed(),
            |e| e.spec.tool.clone(),
            cursor,
        )
    }

    /// One page of the resources `principal` may see.
    pub fn resources_page(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
    ) -> Option<(Vec<Resource>, Option<String>)> {
        let snapshot = self.snapshot();
        self.page(
            &snapshot.resources,
            |l| l.key,
            |l| self.may_see(&snapshot, principal, l.source, &l.item.uri),
            |l| l.item.clone(),
            cursor,
        )
    }

    /// One page of the resource templates `principal` may see.
    pub fn templates_page(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
    ) -> Option<(Vec<ResourceTemplate>, Option<String>)> {
        let snapshot = self.snapshot();
        self.page(
            &snapshot.templates,
            |l| l.key,
            |l| self.may_see(&snapshot, principal, l.source, &l.item.uri_template),
            |l| l.item.clone(),
            cursor,
        )
    }

    /// One page of the prompts `principal` may see.
    pub fn prompts_page(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
    ) -> Option<(Vec<Prompt>, Option<String>)> {
        let snapshot = self.snapshot();
        self.page(
            &snapshot.prompts,
            |l| l.key,
            |l| self.may_see(&snapshot, principal, l.source, &l.item.name),
            |l| l.item.clone(),
            cursor,
        )
    }

    /// The source that serves the resource `uri` to `principal`: one that lists it, or whose
    /// template matches it, when the policy shows that to the caller.
    pub fn resource_source(
        &self,
        snapshot: &Snapshot,
        principal: &Principal,
        uri: &str,
    ) -> Option<Arc<dyn Module>> {
        let (source, name) = snapshot.resource_owner(uri)?;
        self.visible_source(snapshot, principal, source, name)
    }

    /// The source that serves the prompt `name` to `principal`.
    pub fn prompt_source(
        &self,
        snapshot: &Snapshot,
        principal: &Principal,
        name: &str,
    ) -> Option<Arc<dyn Module>> {
        let source = snapshot.prompt_owner(name)?;
        self.visible_source(snapshot, principal, source, name)
    }

    /// The source that lists the resource template `uri_template`, shown to `principal`.
    pub fn template_source(
        &self,
        snapshot: &Snapshot,
        principal: &Principal,
        uri_template: &str,
    ) -> Option<Arc<dyn Module>> {
        let source = snapshot.template_owner(uri_template)?;
        self.visible_source(snapshot, principal, source, uri_template)
    }

    fn visible_source(
        &self,
        snapshot: &Snapshot,
        principal: &Principal,
        source: usize,
        name: &str,
    ) -> Option<Arc<dyn Module>> {
        self.may_see(snapshot, principal, source, name)
            .then(|| snapshot.sources.get(source).cloned())
            .flatten()
    }

    fn may_see(
        &self,
        snapshot: &Snapshot,
        principal: &Principal,
        source: usize,
        name: &str,
    ) -> bool {
        let source = snapshot.sources.get(source).map_or("", |s| s.name());
        snapshot::may_see(&self.inner.live.load().policy, principal, source, name)
    }

    /// The page of `items` (sorted by `key`) after `cursor`, keeping the `visible` ones.
    fn page<T, U>(
        &self,
        items: &[T],
        key: impl Fn(&T) -> Key,
        visible: impl Fn(&T) -> bool,
        out: impl Fn(&T) -> U,
        cursor: Option<&str>,
    ) -> Option<(Vec<U>, Option<String>)> {
        let after = match cursor {
            Some(text) => Cursor::decode(text)?,
            None => None,
        };
        let start = after.map_or(0, |c| items.partition_point(|i| key(i) <= c.after));
        let size = self.inner.page_size.max(1);
        let mut page = Vec::new();
        let mut last = None;
        let mut more = false;
        for item in items[start..].iter().filter(|i| visible(i)) {
            if page.len() == size {
                more = true;
                break;
            }
            page.push(out(item));
            last = Some(key(item));
        }
        let next = last.filter(|_| more).map(|after| Cursor { after }.encode());
        Some((page, next))
    }
}
