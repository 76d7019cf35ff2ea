//! The live catalog: registration checks, pages, and change while it is read.

use std::sync::Mutex;

use rmcp::model::{CallToolResult, ToolAnnotations};

use super::*;
use crate::edge::AuthVia;
use crate::mcp::ToolSpec;

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

/// A source whose tools can be changed from outside.
struct Changing {
    name: String,
    tools: Mutex<Vec<(String, bool)>>,
    changes: Mutex<Option<SourceChanges>>,
}

impl Changing {
    fn new(name: &str, tools: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            tools: Mutex::new(tools.iter().map(|t| ((*t).to_owned(), true)).collect()),
            changes: Mutex::new(None),
        })
    }

    fn set(&self, tools: &[&str]) {
        *self.tools.lock().expect("lock") = tools.iter().map(|t| ((*t).to_owned(), true)).collect();
        if let Some(changes) = &*self.changes.lock().expect("lock") {
            changes.changed();
        }
    }
}

impl Module for Changing {
    fn name(&self) -> &str {
        &self.name
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        let tools = self.tools.lock().expect("lock");
        tools.iter().map(|(n, ro)| spec(n, *ro)).collect()
    }

    fn attach(&self, changes: SourceChanges) {
        *self.changes.lock().expect("lock") = Some(changes);
    }
}

fn catalog(page_size: usize) -> (Catalog, EventBus) {
    let events = EventBus::new(16);
    let catalog = Catalog::new(CatalogSettings {
        page_size,
        policy: Policy::default(),
        disabled: Vec::new(),
        limits: None,
        metrics: Metrics::new(),
        events: events.clone(),
    });
    (catalog, events)
}

fn who(role: &str) -> Principal {
    Principal::new("u", "o", role, AuthVia::Default)
}

fn names(tools: &[Tool]) -> Vec<&str> {
    tools.iter().map(|t| &*t.name).collect()
}

/// Every tool name, page by page, with `between` run after each page.
fn all_pages(catalog: &Catalog, mut between: impl FnMut(usize)) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let (tools, next) = catalog
            .tools_page(&who("admin"), cursor.as_deref())
            .expect("a page");
        seen.extend(tools.iter().map(|t| t.name.to_string()));
        between(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
    unreachable!()
}

#[test]
fn pages_follow_registration_order_and_cursors() {
    let (c, _) = catalog(2);
    c.add_native(Changing::new("m", &["b", "a", "c"]))
        .expect("register");
    let (first, next) = c.tools_page(&who("admin"), None).expect("page");
    assert_eq!(names(&first), ["b", "a"]);
    let (second, last) = c.tools_page(&who("admin"), next.as_deref()).expect("page");
    assert_eq!(names(&second), ["c"]);
    assert!(last.is_none());
    assert!(c.tools_page(&who("admin"), Some("garbage")).is_none());
}

#[test]
fn viewers_see_only_read_only_tools() {
    let (c, _) = catalog(10);
    let module = Changing::new("workspace", &["read", "write"]);
    module.tools.lock().expect("lock")[1].1 = false;
    c.add_native(module).expect("register");
    let (tools, _) = c.tools_page(&who("viewer"), None).expect("page");
    assert_eq!(names(&tools), ["read"]);
    let snapshot = c.snapshot();
    let write = snapshot.entry("write").expect("listed");
    assert!(!c.access(&who("viewer"), write).allowed());
    assert!(c.access(&who("editor"), write).allowed());
}

#[test]
fn natives_with_bad_offers_are_refused_and_runtime_sources_quarantined() {
    let (c, _) = catalog(10);
    c.add_native(Changing::new("m", &["a"])).expect("register");
    assert!(matches!(
        c.add_native(Changing::new("n", &["a"])),
        Err(CatalogError::Duplicate { .. })
    ));
    assert!(matches!(
        c.add_native(Changing::new("n", &["a b"])),
        Err(CatalogError::BadName(_))
    ));
    assert!(matches!(
        c.add_native(Changing::new("m", &["z"])),
        Err(CatalogError::DuplicateSource(_))
    ));
    assert!(
        c.snapshot().quarantined.is_empty(),
        "refused natives leave nothing behind"
    );

    let problem = c
        .add_source(Changing::new("upstream", &["x", "a"]))
        .expect("added");
    assert!(matches!(problem, Some(CatalogError::Duplicate { .. })));
    let snapshot = c.snapshot();
    assert_eq!(
        snapshot.names().collect::<Vec<_>>(),
        ["a"],
        "all or nothing"
    );
    assert_eq!(snapshot.quarantined.len(), 1);
    assert_eq!(snapshot.quarantined[0].source, "upstream");
    assert!(snapshot.quarantined[0].reason.contains("\"a\""));
}

#[test]
fn disabled_tools_must_exist_and_are_left_out() {
    let events = EventBus::new(4);
    let c = Catalog::new(CatalogSettings {
        page_size: 10,
        policy: Policy::default(),
        disabled: vec!["b".into()],
        limits: None,
        metrics: Metrics::new(),
        events,
    });
    c.add_native(Changing::new("m", &["a", "b"]))
        .expect("register");
    c.check_disabled(&c.registered_tools(), &[])
        .expect("b exists");
    assert_eq!(c.snapshot().names().collect::<Vec<_>>(), ["a"]);
    let typo = Catalog::new(CatalogSettings {
        page_size: 10,
        policy: Policy::default(),
        disabled: vec!["nope".into()],
        limits: None,
        metrics: Metrics::new(),
        events: EventBus::new(4),
    });
    typo.add_native(Changing::new("m", &["a"]))
        .expect("register");
    assert!(matches!(
        typo.check_disabled(&typo.registered_tools(), &[]),
        Err(CatalogError::UnknownDisabled(_))
    ));
}

#[test]
fn arguments_are_validated_against_the_schema() {
    let (c, _) = catalog(10);
    c.add_native(Changing::new("m", &["a"])).expect("register");
    let snapshot = c.snapshot();
    let entry = snapshot.entry("a").expect("entry");
    assert!(entry.validate(&serde_json::json!({"n": 3})).is_ok());
    let message = entry
        .validate(&serde_json::json!({"n": 0, "x": 1}))
        .expect_err("invalid");
    assert!(message.contains("/n"), "{message}");
}

#[test]
fn sources_come_and_go_at_runtime_and_the_change_is_announced() {
    let (c, events) = catalog(10);
    c.add_native(Changing::new("native", &["a"]))
        .expect("register");
    let mut heard = events.subscribe();

    let upstream = Changing::new("upstream", &["u1"]);
    assert!(c.add_source(upstream.clone()).expect("added").is_none());
    assert_eq!(heard.try_recv().ok(), Some(ServerEvent::ToolsListChanged));
    assert_eq!(c.snapshot().names().collect::<Vec<_>>(), ["a", "u1"]);

    // The source changes its own offer and says so.
    upstream.set(&["u1", "u2"]);
    assert_eq!(heard.try_recv().ok(), Some(ServerEvent::ToolsListChanged));
    assert_eq!(c.snapshot().names().collect::<Vec<_>>(), ["a", "u1", "u2"]);

    // A refresh that changes nothing announces nothing.
    c.refresh();
    assert!(heard.try_recv().is_err());

    assert!(c.remove_source("upstream"));
    assert_eq!(heard.try_recv().ok(), Some(ServerEvent::ToolsListChanged));
    assert_eq!(c.snapshot().names().collect::<Vec<_>>(), ["a"]);
    assert!(!c.remove_source("upstream"));
    // A removed source that still reports changes changes nothing.
    upstream.set(&["u3"]);
    assert_eq!(c.snapshot().names().collect::<Vec<_>>(), ["a"]);
}

#[test]
fn paging_while_the_catalog_changes_never_repeats_or_skips_a_tool_present_throughout() {
    let (c, _) = catalog(2);
    let first = Changing::new("first", &["a1", "a2", "a3", "a4"]);
    let second = Changing::new("second", &["b1", "b2", "b3"]);
    c.add_native(first.clone()).expect("register");
    c.add_native(second.clone()).expect("register");

    // Between pages: tools are removed before and after the cursor, added in the middle and at
    // the end, and a whole source comes and goes.
    let seen = all_pages(&c, |page| match page {
        0 => first.set(&["a0", "a2", "a3", "a4", "a5"]),
        1 => {
            c.add_source(Changing::new("third", &["c1"]))
                .expect("added");
            second.set(&["b1", "b2", "b3", "b0"]);
        }
        2 => {
            first.set(&["a2", "a4", "a5"]);
            c.remove_source("third");
        }
        _ => {}
    });
    for throughout in ["a2", "a4", "b1", "b2", "b3"] {
        let times = seen.iter().filter(|s| *s == throughout).count();
        assert_eq!(times, 1, "{throughout} listed once in {seen:?}");
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no repeats at all: {seen:?}");
}

#[tokio::test]
async fn one_decision_tells_unknown_switched_off_withheld_and_granted_apart() {
    let c = Catalog::new(CatalogSettings {
        page_size: 10,
        policy: Policy::default(),
        disabled: vec!["off".into()],
        limits: None,
        metrics: Metrics::new(),
        events: EventBus::new(4),
    });
    let module = Changing::new("m", &["read", "write", "off"]);
    module.tools.lock().expect("lock")[1].1 = false;
    c.add_native(module).expect("register");

    assert_eq!(
        c.authorize(&who("admin"), "nope").await.err(),
        Some(Refused::Unknown)
    );
    assert_eq!(
        c.authorize(&who("admin"), "off").await.err(),
        Some(Refused::Disabled)
    );
    assert_eq!(
        c.authorize(&who("viewer"), "write").await.err(),
        Some(Refused::Denied {
            needed_scopes: Vec::new()
        })
    );
    let granted = c.authorize(&who("viewer"), "read").await.expect("granted");
    assert_eq!(&*granted.entry().spec.tool.name, "read");
    // A grant holds its snapshot: the tool stays callable while its source changes.
    c.remove_source("m");
    assert_eq!(&*granted.entry().spec.tool.name, "read");
    assert_eq!(
        c.authorize(&who("viewer"), "read").await.err(),
        Some(Refused::Unknown)
    );
}

/// A source of prompts and resources only.
struct Library;

impl Module for Library {
    fn name(&self) -> &str {
        "library"
    }

    fn tools(self: Arc<Self>) -> Vec<ToolSpec> {
        Vec::new()
    }

    fn resources(&self) -> Vec<Resource> {
        ["a", "b", "c"]
            .into_iter()
            .map(|n| Resource::new(format!("lib://{n}"), n))
            .collect()
    }

    fn prompts(&self) -> Vec<Prompt> {
        ["greet", "secret_plan", "summarize"]
            .into_iter()
            .map(|n| Prompt::new(n, Some("p"), None))
            .collect()
    }
}

#[test]
fn resource_and_prompt_lists_page_and_are_filtered_by_the_caller() {
    use crate::edge::{RuleEffect, ToolRule};
    let c = Catalog::new(CatalogSettings {
        page_size: 2,
        policy: Policy::new(&[ToolRule {
            tools: vec!["secret_*".into()],
            effect: RuleEffect::Deny,
            roles: vec!["viewer".into()],
            scopes: Vec::new(),
        }]),
        disabled: Vec::new(),
        limits: None,
        metrics: Metrics::new(),
        events: EventBus::new(4),
    });
    c.add_native(Arc::new(Library)).expect("register");

    let (first, next) = c.resources_page(&who("viewer"), None).expect("page");
    let (second, last) = c
        .resources_page(&who("viewer"), next.as_deref())
        .expect("page");
    let uris: Vec<&str> = first.iter().chain(&second).map(|r| &*r.uri).collect();
    assert_eq!(uris, ["lib://a", "lib://b", "lib://c"]);
    assert!(last.is_none());

    let prompts = |role: &str| {
        let (mut all, mut next) = c.prompts_page(&who(role), None).expect("page");
        while let Some(cursor) = next {
            let (more, after) = c.prompts_page(&who(role), Some(&cursor)).expect("page");
            all.extend(more);
            next = after;
        }
        all.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    assert_eq!(prompts("viewer"), ["greet", "summarize"]);
    assert_eq!(prompts("admin"), ["greet", "secret_plan", "summarize"]);
    assert!(
        c.prompts_page(&who("admin"), Some("mcpgate.v1.0"))
            .is_none()
    );

    // A withheld prompt is not served either: it has no source for that caller.
    let snapshot = c.snapshot();
    assert!(
        c.prompt_source(&snapshot, &who("viewer"), "secret_plan")
            .is_none()
    );
    assert!(
        c.prompt_source(&snapshot, &who("admin"), "secret_plan")
            .is_some()
    );
    assert!(
        c.prompt_source(&snapshot, &who("viewer"), "greet")
            .is_some()
    );
    assert!(
        c.resource_source(&snapshot, &who("viewer"), "lib://b")
            .is_some()
    );
    assert!(
        c.resource_source(&snapshot, &who("viewer"), "lib://z")
            .is_none()
    );
}

#[test]
fn a_prefixed_source_lists_its_tools_under_the_prefix_and_keeps_its_own_names() {
    let (c, _) = catalog(10);
    c.add_native(Changing::new("native", &["search"]))
        .expect("register");
    let problem = c
        .add_source_prefixed(
            Changing::new("github", &["search", "create_issue"]),
            "github__",
        )
        .expect("added");
    assert!(problem.is_none(), "a prefix keeps names apart: {problem:?}");
    let snapshot = c.snapshot();
    assert_eq!(
        snapshot.names().collect::<Vec<_>>(),
        ["search", "github__search", "github__create_issue"]
    );
    let entry = snapshot.entry("github__search").expect("listed");
    assert_eq!(&*entry.offered_as, "search");
    assert_eq!(&*entry.source, "github");

    // Without a prefix the same offer collides, and is quarantined.
    let clash = c
        .add_source(Changing::new("gitlab", &["search"]))
        .expect("added");
    assert!(matches!(clash, Some(CatalogError::Duplicate { .. })));
}
