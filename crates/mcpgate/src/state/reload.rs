//! Live reload: the configuration is read again (on SIGHUP, `POST /reload` on the admin
//! listener, or `mcpgate reload`) and what can change without a restart is applied in place —
//! static tokens, per-tool rules, rate limits, disabled tools, the log filter and the federated
//! upstreams — without dropping a connection, a session or a stream. An upstream whose
//! settings did not change keeps running untouched (its pool, sessions and calls); a removed one
//! leaves the catalog, lets its calls in flight finish and stops; a new or changed one starts
//! as at start-up. Requests already admitted finish under the
//! settings that admitted them; each later one sees either all of the old settings or all of
//! the new (each part is swapped whole).
//!
//! A configuration that does not validate is refused with every problem, and the one in force
//! stays. Settings that cannot change live (addresses, the store, TLS, the auth backend, the
//! modules, proxy mode's upstream) are reported as needing a restart and keep their running
//! values.

use std::fmt::Debug;

use std::collections::HashSet;

use tokio::sync::Mutex;

use super::AppState;
use crate::config::{self, Config, ConfigError, Overrides, ProcessEnv};
use crate::edge::{Limits, Policy};
use crate::upstream::UpstreamChanges;

/// Where the configuration is read again from, and the settings in force (as resolved, before
/// a listener's port 0 became a real port).
pub struct Reloader {
    source: Option<Overrides>,
    running: Mutex<Config>,
    /// The native modules' tool names, which a reloaded upstream's tools may not take.
    natives: std::sync::OnceLock<HashSet<String>>,
}

impl Reloader {
    /// A reloader for an app built from `config`, read again from `source` (the command line's
    /// overrides over the process environment), or only ever given new configurations
    /// directly (`None`: an embedded app).
    pub fn new(config: Config, source: Option<Overrides>) -> Self {
        Self {
            source,
            running: Mutex::new(config),
            natives: std::sync::OnceLock::new(),
        }
    }

    /// Record the native modules' tool names (once, at start-up).
    pub fn set_natives(&self, natives: HashSet<String>) {
        let _ = self.natives.set(natives);
    }
}

/// What a reload did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadReport {
    /// The live settings that changed and now apply.
    pub applied: Vec<&'static str>,
    /// Settings that changed but apply only after a restart (they keep their running values).
    pub needs_restart: Vec<&'static str>,
    /// What happened to the upstreams.
    #[serde(skip_serializing_if = "UpstreamChanges::is_empty")]
    pub upstreams: UpstreamChanges,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// This app was not started from a configuration it can read again.
    #[error("this app has no configuration source to reload from")]
    NoSource,
    /// The new configuration is invalid; the one in force stays.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The new settings cannot be applied (a disabled tool nobody offers, a rate limiter
    /// that cannot be set up); the ones in force stay.
    #[error("{0}")]
    Refused(String),
}

impl AppState {
    /// Read the configuration again from where it came from, and apply it (see the module
    /// documentation).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let source = self.reloader.source.as_ref().ok_or(ReloadError::NoSource)?;
        let result = match config::resolve(&ProcessEnv, source) {
            Ok(new) => self.reconfigure(new).await,
            Err(e) => Err(e.into()),
        };
        log_outcome(&result);
        result
    }

    /// Apply `new`'s live settings; report the rest (see the module documentation).
    pub async fn reconfigure(&self, new: Config) -> Result<ReloadReport, ReloadError> {
        // One reload at a time: each compares against what the previous one left.
        let mut running = self.reloader.running.lock().await;
        let mut report = ReloadReport {
            needs_restart: restart_only_changes(&running, &new),
            ..ReloadReport::default()
        };

        let limits = match (self.gate.limits(), new.rate_limit.any()) {
            (_, false) => None,
            (Some(limits), true) => Some(limits.with_settings(&new.rate_limit, &self.metrics)),
            // Turned on by this reload: counted where the running configuration says (the
            // Redis URL is restart-only).
            (None, true) => Limits::from_config(
                &new.rate_limit,
                running.redis_url.as_ref().map(|url| url.0.as_str()),
                &self.metrics,
            )
            .await
            .map_err(|e| ReloadError::Refused(format!("{e:#}")))?,
        };
        // In proxy mode the one upstream is the proxy's: a restart changes it.
        let upstreams_live = self.proxy.is_none();
        if upstreams_live {
            let natives = self.reloader.natives.get();
            let clashes: Vec<String> = new
                .upstreams
                .iter()
                .flat_map(|u| {
                    u.named_tools()
                        .into_iter()
                        .filter(|tool| natives.is_some_and(|n| n.contains(tool)))
                        .map(|tool| {
                            format!(
                                "{}: the tool name {tool:?} is already taken by a native \
                                 module's tool",
                                u.name
                            )
                        })
                })
                .collect();
            if !clashes.is_empty() {
                return Err(ReloadError::Refused(format!(
                    "upstreams: {}",
                    clashes.join("; ")
                )));
            }
        }
        let upstreams = if upstreams_live {
            &new.upstreams
        } else {
            &running.upstreams
        };
        let prefixes: Vec<&str> = upstreams.iter().map(|u| u.prefix.as_str()).collect();
        // The only step that can refuse comes first: nothing has changed when it does.
        self.catalog
            .reconfigure(
                Policy::new(&new.auth.rules),
                new.modules.disabled_tools.clone(),
                limits.clone(),
                &prefixes,
            )
            .map_err(|e| ReloadError::Refused(format!("modules.disabled_tools: {e}")))?;
        self.gate.reconfigure(
            self.gate.authenticator().with_tokens(&new.auth.tokens),
            limits,
        );
        if upstreams_live {
            report.upstreams = self
                .upstreams
                .reconfigure(&new.upstreams, &self.catalog, &self.lifecycle)
                .await;
        }
        if new.log.filter != running.log.filter {
            // Validated with the rest of the configuration.
            if let Err(e) = self.log.set_filter(&new.log.filter) {
                tracing::warn!(error = e, "the new log filter was not applied");
            }
        }

        let mut applied = |name, changed: bool| {
            if changed {
                report.applied.push(name);
            }
        };
        applied("auth.tokens", running.auth.tokens != new.auth.tokens);
        applied("auth.rules", running.auth.rules != new.auth.rules);
        applied("rate_limit", differs(&running.rate_limit, &new.rate_limit));
        applied(
            "modules.disabled_tools",
            running.modules.disabled_tools != new.modules.disabled_tools,
        );
        applied("log.filter", running.log.filter != new.log.filter);
        applied("upstreams", !report.upstreams.is_empty());
        running.auth.tokens = new.auth.tokens;
        running.auth.rules = new.auth.rules;
        running.rate_limit = new.rate_limit;
        running.modules.disabled_tools = new.modules.disabled_tools;
        running.log.filter = new.log.filter;
        if upstreams_live {
            running.upstreams = new.upstreams;
        }
        Ok(report)
    }
}

/// The settings outside the live ones that differ between `running` and `new`.
fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    // Compared with the live parts made equal, so only the rest can differ.
    let mut auth = new.auth.clone();
    auth.tokens.clone_from(&running.auth.tokens);
    auth.rules.clone_from(&running.auth.rules);
    let mut modules = new.modules.clone();
    modules
        .disabled_tools
        .clone_from(&running.modules.disabled_tools);
    let candidates = [
        (
            "server.transport",
            differs(&running.transport, &new.transport),
        ),
        ("server.data_dir", running.data_dir != new.data_dir),
        ("http", differs(&running.http, &new.http)),
        (
            "admin",
            differs(&running.admin, &new.admin)
                || running.admin.metrics_token != new.admin.metrics_token,
        ),
        ("store", differs(&running.store, &new.store)),
        ("modules", differs(&running.modules, &modules)),
        ("workspace", differs(&running.workspace, &new.workspace)),
        (
            "auth (other than tokens and rules)",
            differs(&running.auth, &auth),
        ),
        ("log.format", running.log.format != new.log.format),
        ("telemetry (span export)", running.traces != new.traces),
        (
            "proxy",
            differs(&running.proxy, &new.proxy)
                || (running.proxy.is_some() && differs(&running.upstreams, &new.upstreams)),
        ),
        ("redis.url", running.redis_url != new.redis_url),
    ];
    candidates
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
}

/// Settings types compare by their full debug form (secrets in them print redacted, and are
/// compared on their own where they matter).
fn differs<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

fn log_outcome(result: &Result<ReloadReport, ReloadError>) {
    match result {
        Ok(report) => tracing::info!(
            applied = ?report.applied,
            needs_restart = ?report.needs_restart,
            "configuration reloaded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "configuration reload refused; the configuration in force stays"
        ),
    }
}
