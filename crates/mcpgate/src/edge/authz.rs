//! Authorization: which tools a principal may use. The same [`Policy`] decides for `tools/list`,
//! `tools/call` and the REST API, so a tool is never visible in one and refused in another.
//!
//! Roles grant by the tools' own annotations: a viewer uses read-only tools, an editor also
//! every workspace tool, an admin everything. Configured rules then adjust that, in a fixed
//! order that does not depend on how the rules are listed: any matching `deny` withholds the
//! tool; any matching `require` whose scopes the principal lacks withholds it and names the
//! scopes; any matching `allow` grants it; otherwise the role decides.

use std::sync::Arc;

use super::Principal;

/// What a rule does to the tools it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleEffect {
    /// The tools are granted, beyond what the role allows.
    Allow,
    /// The tools are withheld, whatever the role allows.
    Deny,
    /// The tools need every scope the rule lists.
    Require,
}

/// One per-tool rule: `[[auth.rules]]` with `tools` (globs), `effect`, and optional `roles`
/// (the rule applies to principals holding any of them) and `scopes` (for `allow` and `deny`:
/// the rule applies to principals holding all of them; for `require`: the scopes needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRule {
    /// Tool name patterns; `*` matches any run of characters, `?` one character.
    pub tools: Vec<String>,
    /// What the rule does.
    pub effect: RuleEffect,
    /// Roles the rule applies to; empty means every role.
    pub roles: Vec<String>,
    /// Scopes (see the type's documentation).
    pub scopes: Vec<String>,
}

/// The verdict for one principal and one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The principal may use the tool.
    Allowed,
    /// It may not. `needed_scopes` lists scopes that would change that (a `require` rule),
    /// empty when none would.
    Denied {
        /// Scopes the principal lacks for this tool.
        needed_scopes: Vec<String>,
    },
}

impl Access {
    /// Whether the tool may be used.
    pub fn allowed(&self) -> bool {
        matches!(self, Access::Allowed)
    }
}

/// What the policy needs to know about a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolFacts<'a> {
    /// The tool's name.
    pub name: &'a str,
    /// The module that registered it.
    pub module: &'a str,
    /// Whether its annotations say it only reads.
    pub read_only: bool,
}

/// The per-tool authorization policy: role defaults plus configured rules.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Arc<[ToolRule]>,
}

impl Policy {
    /// A policy with `rules` on top of the role defaults.
    pub fn new(rules: &[ToolRule]) -> Self {
        Self {
            rules: rules.into(),
        }
    }

    /// Whether `principal` may use `tool`.
    pub fn access(&self, principal: &Principal, tool: ToolFacts<'_>) -> Access {
        if self.rules.is_empty() {
            return role_access(principal, tool);
        }
        let matching = || {
            self.rules
                .iter()
                .filter(|r| r.tools.iter().any(|pattern| glob(pattern, tool.name)))
                .filter(|r| {
                    r.roles.is_empty() || r.roles.iter().any(|role| principal.has_role(role))
                })
        };
        let holds = |scopes: &[String]| scopes.iter().all(|s| principal.has_scope(s));
        if matching().any(|r| r.effect == RuleEffect::Deny && holds(&r.scopes)) {
            return Access::Denied {
                needed_scopes: Vec::new(),
            };
        }
        let mut needed: Vec<String> = Vec::new();
        for rule in matching().filter(|r| r.effect == RuleEffect::Require) {
            for scope in &rule.scopes {
                if !principal.has_scope(scope) && !needed.contains(scope) {
                    needed.push(scope.clone());
                }
            }
        }
        if !needed.is_empty() {
            return Access::Denied {
                needed_scopes: needed,
            };
        }
        if matching().any(|r| r.effect == RuleEffect::Allow && holds(&r.scopes)) {
            return Access::Allowed;
        }
        role_access(principal, tool)
    }
}

/// The role defaults: admin everything; editor every workspace tool and read-only tools;
/// viewer read-only tools.
fn role_access(principal: &Principal, tool: ToolFacts<'_>) -> Access {
    let allowed = tool.read_only
        || principal.has_role("admin")
        || (principal.has_role("editor") && tool.module == "workspace");
    if allowed {
        Access::Allowed
    } else {
        Access::Denied {
            needed_scopes: Vec::new(),
        }
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters (also none) and
/// `?` exactly one. Tool names are short, so the classic backtracking walk is enough; a glob
/// crate would bring path semantics (separators, classes) that tool names do not have.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::AuthVia;

    fn who(role: &str, scopes: &[&str]) -> Principal {
        let mut p = Principal::new("u", "o", role, AuthVia::Default);
        p.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        p
    }

    fn tool<'a>(name: &'a str, module: &'a str, read_only: bool) -> ToolFacts<'a> {
        ToolFacts {
            name,
            module,
            read_only,
        }
    }

    fn rule(tools: &[&str], effect: RuleEffect, roles: &[&str], scopes: &[&str]) -> ToolRule {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        ToolRule {
            tools: strings(tools),
            effect,
            roles: strings(roles),
            scopes: strings(scopes),
        }
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("delete_*", "delete_task"));
        assert!(glob("*_task", "process_task"));
        assert!(glob("get_?ote", "get_note"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("delete_*", "undelete_task"));
        assert!(!glob("get_?ote", "get_notes"));
        assert!(!glob("a*b*c", "a-x-b-y"));
    }

    #[test]
    fn roles_follow_annotations_and_modules() {
        let policy = Policy::default();
        let read = tool("list_tasks", "workspace", true);
        let write = tool("create_task", "workspace", false);
        let other = tool("echo_write", "conformance", false);
        assert!(policy.access(&who("viewer", &[]), read).allowed());
        assert!(!policy.access(&who("viewer", &[]), write).allowed());
        assert!(policy.access(&who("editor", &[]), write).allowed());
        assert!(!policy.access(&who("editor", &[]), other).allowed());
        assert!(policy.access(&who("admin", &[]), other).allowed());
    }

    #[test]
    fn deny_beats_require_beats_allow_beats_role() {
        let policy = Policy::new(&[
            rule(&["create_*"], RuleEffect::Allow, &["viewer"], &[]),
            rule(&["delete_*"], RuleEffect::Deny, &["editor"], &[]),
            rule(
                &["*_task"],
                RuleEffect::Require,
                &[],
                &["tasks:write", "tasks:read"],
            ),
        ]);
        let viewer = who("viewer", &[]);
        assert!(
            policy
                .access(&viewer, tool("create_note", "workspace", false))
                .allowed()
        );
        assert_eq!(
            policy.access(&viewer, tool("create_task", "workspace", false)),
            Access::Denied {
                needed_scopes: vec!["tasks:write".into(), "tasks:read".into()]
            }
        );
        let editor = who("editor", &["tasks:write", "tasks:read"]);
        assert!(
            policy
                .access(&editor, tool("update_task", "workspace", false))
                .allowed()
        );
        assert_eq!(
            policy.access(&editor, tool("delete_task", "workspace", false)),
            Access::Denied {
                needed_scopes: Vec::new()
            }
        );
        let admin = who("admin", &["tasks:read"]);
        assert!(
            policy
                .access(&admin, tool("delete_note", "workspace", false))
                .allowed()
        );
        assert_eq!(
            policy.access(&admin, tool("get_task", "workspace", true)),
            Access::Denied {
                needed_scopes: vec!["tasks:write".into()]
            }
        );
    }

    #[test]
    fn scoped_allow_and_deny_apply_only_to_holders() {
        let policy = Policy::new(&[
            rule(&["echo_*"], RuleEffect::Allow, &[], &["conformance"]),
            rule(&["search"], RuleEffect::Deny, &[], &["restricted"]),
        ]);
        let echo = tool("echo_write", "conformance", false);
        assert!(
            policy
                .access(&who("viewer", &["conformance"]), echo)
                .allowed()
        );
        assert!(!policy.access(&who("viewer", &[]), echo).allowed());
        let search = tool("search", "workspace", true);
        assert!(policy.access(&who("viewer", &[]), search).allowed());
        assert!(
            !policy
                .access(&who("admin", &["restricted"]), search)
                .allowed()
        );
    }
}
