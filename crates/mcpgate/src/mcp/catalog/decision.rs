//! The one authorization decision for using a tool, asked by MCP `tools/call` and by every REST
//! operation alike: is the tool offered, is it switched off, may this caller use it (role,
//! rules, scopes), and is the caller within the tool's rate limit. Each front end only maps the
//! [`Refused`] to its own wire form.

use std::sync::Arc;

use super::{Catalog, Entry, Snapshot};
use crate::edge::{Access, Decision, Principal};

/// Why a caller may not use a tool now.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// No tool of that name is offered (never registered, or its source is quarantined).
    Unknown,
    /// Switched off by configuration (`modules.disabled_tools`).
    Disabled,
    /// The policy withholds it from this caller; the scopes that would change that, if any.
    Denied {
        /// Scopes that would grant the tool (empty when none would).
        needed_scopes: Vec<String>,
    },
    /// Over the tool's own rate limit, or the shared limiter could not decide and refuses.
    Limited(Decision),
}

/// A tool the caller may use now, held in the snapshot it was found in.
pub struct Granted {
    snapshot: Arc<Snapshot>,
    index: usize,
}

impl Granted {
    /// The tool's entry.
    pub fn entry(&self) -> &Entry {
        &self.snapshot.tools[self.index]
    }
}

impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Granted")
            .field(&&*self.entry().spec.tool.name)
            .finish()
    }
}

impl Catalog {
    /// Whether `principal` sees the tool `name` in its list: offered and not withheld from it
    /// (the same decision as [`Catalog::authorize`], without spending a rate limit).
    pub fn offers(&self, principal: &Principal, name: &str) -> bool {
        let snapshot = self.snapshot();
        snapshot
            .by_name
            .get(name)
            .is_some_and(|&index| self.access(principal, &snapshot.tools[index]).allowed())
    }

    /// May `principal` use the tool `name` now. Counts against the tool's rate limit when
    /// everything else allows it (a refused call spends nothing).
    pub async fn authorize(&self, principal: &Principal, name: &str) -> Result<Granted, Refused> {
        let snapshot = self.snapshot();
        let Some(&index) = snapshot.by_name.get(name) else {
            let disabled = self.inner.live.load().disabled.iter().any(|d| d == name);
            return Err(if disabled {
                Refused::Disabled
            } else {
                Refused::Unknown
            });
        };
        if let Access::Denied { needed_scopes } = self.access(principal, &snapshot.tools[index]) {
            return Err(Refused::Denied { needed_scopes });
        }
        let live = self.inner.live.load_full();
        if let Some(limits) = &live.limits
            && let Some(decision) = limits.tool(principal, name).await
            && !decision.allowed
        {
            return Err(Refused::Limited(decision));
        }
        Ok(Granted { snapshot, index })
    }
}
