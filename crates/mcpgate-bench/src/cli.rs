//! Command line of `mcpgate-bench`, and its resolution into typed configuration.
//!
//! Flags are parsed by clap into raw `*Args` structs, then resolved once into the configs
//! the runners take. Resolution checks everything and reports every problem together, so a
//! mistyped command line is fixed in one go.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use thiserror::Error;

use crate::client::Target;
use crate::coldstart::{ColdStartConfig, Probe};
use crate::handoff::HandoffConfig;
use crate::loadgen::LoadConfig;
use crate::protocol::{Era, base_headers};
use crate::scenario::{Method, Scenario, ToolCall};
use crate::sessions::SessionsConfig;
use crate::workspace::{ScalePlan, SeedPlan, WorkspaceConfig};

/// Measured window when neither `--duration` nor `--requests` is given: 10 s.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Load generator and cold-start timer for MCP Streamable HTTP servers.
///
/// Without a subcommand, runs closed-loop load of one tool and prints one JSON line on stdout.
#[derive(Debug, Parser)]
#[command(
    name = "mcpgate-bench",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A mode other than load generation.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Load generation flags (the default mode).
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Modes other than load generation.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Time from spawning a server to its first answered request.
    Coldstart(ColdStartArgs),
    /// Seed mcpgate's workspace (tasks, notes, comments), then run a mixed read/write load
    /// on it. The server needs MCPGATE_WORKSPACE_WRITE=true and a caller that may write.
    Workspace(WorkspaceArgs),
    /// Open legacy sessions and leave them idle: the server's memory per idle session.
    Sessions(SessionsArgs),
    /// Move legacy sessions from one replica to another (sessions shared in Redis): the cost
    /// of a session's first call on a replica that did not create it.
    Handoff(HandoffArgs),
    /// Write workspace records straight into a server's database, fast (millions in
    /// minutes), with Zipf-distributed words, tags, statuses and several orgs.
    Seed(SeedArgs),
}

/// Seeding at scale: where and how much.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Records to write straight into the database (over every org), instead of seeding
    /// through the tools.
    #[arg(long)]
    pub records: Option<usize>,
    /// The server's database for `--records` (`sqlite://PATH` or `postgres://…`).
    #[arg(long, env = "MCPGATE_DATABASE_URL")]
    pub database: Option<String>,
    /// The org the load runs as, which gets 80% of the records.
    #[arg(long, default_value = "acme")]
    pub org: String,
    /// Records written at once.
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
}

/// `seed` flags.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Where and how much.
    #[command(flatten)]
    pub scale: ScaleArgs,
}

/// How to reach the server.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// MCP endpoint (plain http only).
    #[arg(long, default_value = "http://127.0.0.1:8080/mcp")]
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN` on every request.
    #[arg(long)]
    pub token: Option<String>,
    /// Extra header `Name: value` on every request; repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Per-request limit in seconds, from send to last byte.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
}

/// Load generation flags.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Protocol era: `modern` (2026-07-28, stateless) or `legacy` (2025-11-25, sessions).
    #[arg(long, value_enum, default_value_t = Era::Modern)]
    pub era: Era,
    /// Number of virtual clients, each with its own connection.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Measured window in seconds (default 10 when --requests is not given either).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many measured calls (or at --duration, whichever comes first).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Unmeasured seconds of load before the window opens.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Tool to call (with `--method`: the resource's URI, or the prompt's name).
    #[arg(long, default_value = "health")]
    pub tool: String,
    /// Tool arguments, a JSON object (a prompt's too).
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// What to ask for: call the tool, read the resource, or get the prompt.
    #[arg(long, value_enum, default_value_t = Method::ToolsCall)]
    pub method: Method,
    /// Free text copied into the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Sample this process's VmRSS before and during the run (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Generator worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Cold-start flags.
#[derive(Debug, Args)]
pub struct ColdStartArgs {
    /// How to reach the server once it is up.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Server program and arguments, split on whitespace (no shell quoting).
    #[arg(long)]
    pub cmd: String,
    /// Number of starts to measure.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Request that proves readiness.
    #[arg(long, value_enum, default_value_t = Probe::Health)]
    pub probe: Probe,
    /// Tool called by the `health` probe.
    #[arg(long, default_value = "health")]
    pub tool: String,
    /// Milliseconds between failed probes; 0 probes back to back (most precise).
    #[arg(long, default_value_t = 0)]
    pub poll_ms: u64,
    /// Seconds to wait for a start before giving up.
    #[arg(long, default_value_t = 30.0)]
    pub give_up: f64,
    /// Show the server's stdout and stderr.
    #[arg(long)]
    pub show_output: bool,
    /// Free text copied into the report.
    #[arg(long)]
    pub label: Option<String>,
}

/// Workspace scenario flags.
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Protocol era: `modern` (2026-07-28, stateless) or `legacy` (2025-11-25, sessions).
    #[arg(long, value_enum, default_value_t = Era::Modern)]
    pub era: Era,
    /// Number of virtual clients, each with its own connection.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Measured window in seconds.
    #[arg(long, default_value_t = DEFAULT_DURATION.as_secs_f64())]
    pub duration: f64,
    /// Unmeasured seconds of load before the window opens (seeding comes before).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Tasks to seed; reads and writes draw from them.
    #[arg(long, default_value_t = SeedPlan::default().tasks)]
    pub tasks: usize,
    /// Notes to seed.
    #[arg(long, default_value_t = SeedPlan::default().notes)]
    pub notes: usize,
    /// Comments to seed, each on a seeded task.
    #[arg(long, default_value_t = SeedPlan::default().comments)]
    pub comments: usize,
    /// Seeding at scale instead (`--records`).
    #[command(flatten)]
    pub scale: ScaleArgs,
    /// Share of writes in the mix, in percent.
    #[arg(long, default_value_t = 20)]
    pub write_percent: u64,
    /// Free text copied into the report (e.g. the backend).
    #[arg(long)]
    pub label: Option<String>,
    /// Sample this process's VmRSS and CPU time during the run (Linux).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Generator worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Session-memory flags.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// How to reach the server.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Sessions to open (after a warm-up of 20).
    #[arg(long, default_value_t = 2000)]
    pub sessions: usize,
    /// The server's process id, whose memory is read (Linux).
    #[arg(long)]
    pub server_pid: u32,
    /// Free text copied into the report.
    #[arg(long)]
    pub label: Option<String>,
}

/// Session-handoff flags.
#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// How to reach the first replica (sessions open there).
    #[command(flatten)]
    pub target: TargetArgs,
    /// The second replica's MCP endpoint (plain http only).
    #[arg(long)]
    pub other_url: String,
    /// Sessions to move.
    #[arg(long, default_value_t = 200)]
    pub sessions: usize,
    /// Free text copied into the report.
    #[arg(long)]
    pub label: Option<String>,
}

impl HandoffArgs {
    /// Checks the flags and builds the run's configuration.
    pub fn resolve(self) -> Result<HandoffConfig, ConfigErrors> {
        let mut problems = Vec::new();
        let target = self.target.resolve(Era::Legacy, &mut problems);
        let other = match Url::parse(&self.other_url) {
            Ok(url) if url.scheme() == "http" => Some(url),
            Ok(url) => {
                problems.push(format!(
                    "--other-url: scheme {} is not supported",
                    url.scheme()
                ));
                None
            }
            Err(error) => {
                problems.push(format!("--other-url {:?}: {error}", self.other_url));
                None
            }
        };
        if self.sessions == 0 {
            problems.push("--sessions: must be at least 1".to_owned());
        }
        match (target, other) {
            (Some(target), Some(other)) if problems.is_empty() => Ok(HandoffConfig {
                target,
                other,
                sessions: self.sessions,
                label: self.label,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

/// Every problem found in the command line.
#[derive(Debug, Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

impl TargetArgs {
    fn resolve(&self, era: Era, problems: &mut Vec<String>) -> Option<Target> {
        let url = match Url::parse(&self.url) {
            Ok(url) if url.scheme() == "http" => Some(url),
            Ok(url) => {
                problems.push(format!("--url: scheme {} is not supported", url.scheme()));
                None
            }
            Err(error) => {
                problems.push(format!("--url {:?}: {error}", self.url));
                None
            }
        };
        let authorization = self.token.as_ref().and_then(|token| {
            HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| problems.push("--token: not a valid header value".to_owned()))
                .ok()
        });
        let mut extra = Vec::new();
        for header in &self.headers {
            match parse_header(header) {
                Some(pair) => extra.push(pair),
                None => problems.push(format!("--header {header:?}: expected `Name: value`")),
            }
        }
        let timeout = seconds("--timeout", self.timeout, problems);
        if timeout.is_some_and(|timeout| timeout.is_zero()) {
            problems.push("--timeout: must be positive".to_owned());
        }
        Some(Target {
            url: url?,
            era,
            base_headers: base_headers(authorization.as_ref(), &extra),
            timeout: timeout?,
        })
    }
}

impl LoadArgs {
    /// Checks the flags and builds the run's configuration.
    pub fn resolve(self) -> Result<LoadConfig, ConfigErrors> {
        let mut problems = Vec::new();
        let target = self.target.resolve(self.era, &mut problems);
        if self.concurrency == 0 {
            problems.push("--concurrency: must be at least 1".to_owned());
        }
        let duration = self
            .duration
            .and_then(|secs| seconds("--duration", secs, &mut problems));
        if duration.is_some_and(|duration| duration.is_zero()) || self.requests == Some(0) {
            problems.push("--duration and --requests: must be positive".to_owned());
        }
        let warmup = seconds("--warmup", self.warmup, &mut problems);
        let arguments = match serde_json::from_str::<Value>(&self.args) {
            Ok(value @ Value::Object(_)) => Some(value),
            Ok(_) => {
                problems.push("--args: must be a JSON object".to_owned());
                None
            }
            Err(error) => {
                problems.push(format!("--args: {error}"));
                None
            }
        };
        if self.tool.is_empty() {
            problems.push("--tool: must not be empty".to_owned());
        }
        match (target, warmup, arguments) {
            (Some(target), Some(warmup), Some(arguments)) if problems.is_empty() => {
                Ok(LoadConfig {
                    target,
                    scenario: Scenario::single(
                        ToolCall::new(self.tool, arguments).with_method(self.method),
                    ),
                    concurrency: self.concurrency,
                    duration: duration.or(self.requests.is_none().then_some(DEFAULT_DURATION)),
                    requests: self.requests,
                    warmup,
                    label: self.label,
                    server_pid: self.server_pid,
                })
            }
            _ => Err(ConfigErrors(problems)),
        }
    }
}

impl ColdStartArgs {
    /// Checks the flags and builds the measurement's configuration.
    pub fn resolve(self) -> Result<ColdStartConfig, ConfigErrors> {
        let mut problems = Vec::new();
        let target = self.target.resolve(Era::Modern, &mut problems);
        let mut words = self.cmd.split_whitespace().map(str::to_owned);
        let program = words.next();
        if program.is_none() {
            problems.push("--cmd: must name a program".to_owned());
        }
        if self.runs == 0 {
            problems.push("--runs: must be at least 1".to_owned());
        }
        let give_up = seconds("--give-up", self.give_up, &mut problems);
        match (target, program, give_up) {
            (Some(target), Some(program), Some(give_up_after)) if problems.is_empty() => {
                Ok(ColdStartConfig {
                    target,
                    program,
                    args: words.collect(),
                    runs: self.runs,
                    probe: self.probe,
                    tool: self.tool,
                    poll_every: Duration::from_millis(self.poll_ms),
                    give_up_after,
                    show_output: self.show_output,
                    label: self.label,
                })
            }
            _ => Err(ConfigErrors(problems)),
        }
    }
}

impl SessionsArgs {
    /// Checks the flags and builds the run's configuration.
    pub fn resolve(self) -> Result<SessionsConfig, ConfigErrors> {
        let mut problems = Vec::new();
        let target = self.target.resolve(Era::Legacy, &mut problems);
        if self.sessions == 0 {
            problems.push("--sessions: must be at least 1".to_owned());
        }
        match target {
            Some(target) if problems.is_empty() => Ok(SessionsConfig {
                target,
                sessions: self.sessions,
                server_pid: self.server_pid,
                label: self.label,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

impl WorkspaceArgs {
    /// Checks the flags and builds the run's configuration.
    pub fn resolve(self) -> Result<WorkspaceConfig, ConfigErrors> {
        let mut problems = Vec::new();
        let target = self.target.resolve(self.era, &mut problems);
        if self.concurrency == 0 {
            problems.push("--concurrency: must be at least 1".to_owned());
        }
        let duration = seconds("--duration", self.duration, &mut problems);
        if duration.is_some_and(|duration| duration.is_zero()) {
            problems.push("--duration: must be positive".to_owned());
        }
        let warmup = seconds("--warmup", self.warmup, &mut problems);
        if self.tasks == 0 {
            problems.push("--tasks: must be at least 1 (reads and writes use them)".to_owned());
        }
        let scale = self.scale.resolve(&mut problems);
        if self.write_percent > 100 {
            problems.push("--write-percent: must be between 0 and 100".to_owned());
        }
        match (target, duration, warmup) {
            (Some(target), Some(duration), Some(warmup)) if problems.is_empty() => {
                Ok(WorkspaceConfig {
                    target,
                    concurrency: self.concurrency,
                    duration,
                    warmup,
                    seed: SeedPlan {
                        tasks: self.tasks,
                        notes: self.notes,
                        comments: self.comments,
                    },
                    scale,
                    write_percent: self.write_percent,
                    label: self.label,
                    server_pid: self.server_pid,
                })
            }
            _ => Err(ConfigErrors(problems)),
        }
    }
}

impl ScaleArgs {
    /// The plan, if `--records` was given; problems with the flags go to `problems`.
    fn resolve(self, problems: &mut Vec<String>) -> Option<ScalePlan> {
        let records = self.records?;
        if records == 0 {
            problems.push("--records: must be at least 1".to_owned());
        }
        if self.writers == 0 {
            problems.push("--writers: must be at least 1".to_owned());
        }
        if self.org.is_empty() {
            problems.push("--org: must not be empty".to_owned());
        }
        let Some(database_url) = self.database else {
            problems.push(
                "--database (or MCPGATE_DATABASE_URL): needed with --records, the database \
                 the server runs on"
                    .to_owned(),
            );
            return None;
        };
        Some(ScalePlan {
            records,
            org: self.org,
            database_url,
            writers: self.writers,
        })
    }
}

impl SeedArgs {
    /// Checks the flags and builds the plan.
    pub fn resolve(self) -> Result<ScalePlan, ConfigErrors> {
        let mut problems = Vec::new();
        if self.scale.records.is_none() {
            problems.push("--records: how many records to write".to_owned());
        }
        match self.scale.resolve(&mut problems) {
            Some(plan) if problems.is_empty() => Ok(plan),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

fn seconds(flag: &str, secs: f64, problems: &mut Vec<String>) -> Option<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| problems.push(format!("{flag}: {secs} is not a number of seconds")))
        .ok()
}

fn parse_header(header: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, value) = header.split_once(':')?;
    let name = HeaderName::try_from(name.trim()).ok()?;
    let value = HeaderValue::try_from(value.trim()).ok()?;
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(args: &[&str]) -> Result<LoadConfig, ConfigErrors> {
        let cli = Cli::try_parse_from(std::iter::once("mcpgate-bench").chain(args.iter().copied()))
            .expect("flags parse");
        cli.load.resolve()
    }

    #[test]
    fn defaults_give_a_ten_second_modern_run() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.target.era, Era::Modern);
        assert_eq!(config.duration, Some(DEFAULT_DURATION));
        assert_eq!(config.scenario.describe(), "health");
        assert_eq!(config.target.url.as_str(), "http://127.0.0.1:8080/mcp");
    }

    #[test]
    fn requests_alone_leave_the_duration_open() {
        let config = load(&["--requests", "500"]).expect("valid");
        assert_eq!(config.duration, None);
        assert_eq!(config.requests, Some(500));
    }

    fn workspace(args: &[&str]) -> Result<WorkspaceConfig, ConfigErrors> {
        let cli = Cli::try_parse_from(
            ["mcpgate-bench", "workspace"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .expect("flags parse");
        match cli.command {
            Some(Command::Workspace(args)) => args.resolve(),
            other => panic!("expected the workspace subcommand, got {other:?}"),
        }
    }

    #[test]
    fn workspace_defaults_are_fifty_modern_clients_on_the_default_seed() {
        let config = workspace(&[]).expect("defaults are valid");
        assert_eq!(config.concurrency, 50);
        assert_eq!(config.target.era, Era::Modern);
        assert_eq!(config.duration, DEFAULT_DURATION);
        assert_eq!(config.seed, SeedPlan::default());
        assert_eq!(config.write_percent, 20);
    }

    #[test]
    fn workspace_problems_are_listed_together() {
        let errors = workspace(&["--tasks", "0", "--write-percent", "101", "--duration", "0"])
            .expect_err("three problems");
        assert_eq!(errors.0.len(), 3, "{errors}");
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = load(&[
            "--url",
            "https://example.com/mcp",
            "--concurrency",
            "0",
            "--args",
            "[1]",
            "--header",
            "no-colon",
        ])
        .expect_err("four problems");
        assert_eq!(errors.0.len(), 4, "{errors}");
    }
}
