//! The `workspace` scenario: a seeded workspace under a mixed read and write load.
//!
//! Seeding comes first and is not measured: tasks, notes and comments are created through the
//! MCP tools (so the server must run with `MCPGATE_WORKSPACE_WRITE=true` and the caller's role
//! must be allowed to write), with titles, descriptions and tags drawn from a small vocabulary
//! so that tag filters and searches find something. The IDs created are what the load reads
//! and writes.
//!
//! Then each virtual client loops over a weighted mix of operations, as in
//! [`crate::loadgen`]: warm-up, then the measured window. Unlike the fixed calls of a
//! [`crate::scenario::Scenario`], each call's arguments are built when it is sent, because
//! some depend on what the client read before: `patch_task` sends the version the client last
//! read, and `process_task` picks an action that fits the status it last saw. Under
//! contention another client may have written in between; the server then refuses the write
//! (`version conflict …`, or `cannot start a task that is done …`), which is expected and
//! counted as a conflict, not an error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;

use crate::client::{Target, VirtualClient};
use crate::loadgen::{MAX_TRACKED_MICROS, Schedule, SeenKinds, describe_window, note_first};
use crate::reply::{CallError, ToolReply};
use crate::report::{LatencySummary, OpStats, SeedSummary, WorkspaceReport};
use crate::rss::{RssSampler, read_cpu_seconds, read_rss_kib};
use crate::scenario::{Draws, Scenario, ToolCall};

/// A resolved `workspace` run.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// The server and how to talk to it.
    pub target: Target,
    /// Number of virtual clients; seeding uses them all too.
    pub concurrency: usize,
    /// Length of the measured window.
    pub duration: Duration,
    /// Unmeasured load before the window opens.
    pub warmup: Duration,
    /// What to create before the load.
    pub seed: SeedPlan,
    /// Share of write operations in the mix, in percent (0–100).
    pub write_percent: u64,
    /// Free text for the report.
    pub label: Option<String>,
    /// Process whose memory and CPU to sample.
    pub server_pid: Option<u32>,
}

/// How many records seeding creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedPlan {
    /// Tasks (at least one: reads and writes draw from them).
    pub tasks: usize,
    /// Notes.
    pub notes: usize,
    /// Comments, each on a seeded task drawn at random.
    pub comments: usize,
}

impl Default for SeedPlan {
    fn default() -> Self {
        Self {
            tasks: 500,
            notes: 200,
            comments: 300,
        }
    }
}

/// Words of titles, descriptions, note bodies and search queries.
const WORDS: [&str; 24] = [
    "deploy",
    "billing",
    "cache",
    "invoice",
    "migration",
    "latency",
    "signing",
    "rotation",
    "dashboard",
    "export",
    "onboarding",
    "backup",
    "audit",
    "webhook",
    "quota",
    "retry",
    "schema",
    "rollout",
    "incident",
    "alerting",
    "storage",
    "gateway",
    "token",
    "report",
];

/// Tags of tasks and notes, and of `list_tasks` tag filters.
const TAGS: [&str; 10] = [
    "ops", "billing", "security", "frontend", "backend", "infra", "docs", "release", "q4", "bug",
];

/// Task statuses; seeded tasks are spread over all of them so every status filter finds some.
const STATUSES: [&str; 4] = ["todo", "in_progress", "done", "cancelled"];

/// Task priorities.
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// Salts that keep the draws of seeding, of each seed kind and of the load apart.
const SEED_TASK_SALT: u64 = 0x7a5c_0000_0000_0000;
const SEED_NOTE_SALT: u64 = 0x4e07_0000_0000_0000;
const SEED_COMMENT_SALT: u64 = 0xc033_0000_0000_0000;
const LOAD_SALT: u64 = 0x10ad_0000_0000_0000;

/// One operation of the mix: a tool and how its arguments are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `get_task` of a seeded task.
    GetTask,
    /// `list_tasks` filtered by a tag or a status.
    ListTasks,
    /// `search` for one or two vocabulary words.
    Search,
    /// `fetch` of a seeded task or note.
    Fetch,
    /// `list_comments` of a seeded task.
    ListComments,
    /// `create_task` with a fresh title.
    CreateTask,
    /// `patch_task` of the task last read, with the version read.
    PatchTask,
    /// `process_task` with an action that fits the status last read.
    ProcessTask,
    /// `create_comment` on a seeded task.
    CreateComment,
}

impl Op {
    /// Every operation, in the order of the mix.
    pub const ALL: [Op; 9] = [
        Op::GetTask,
        Op::ListTasks,
        Op::Search,
        Op::Fetch,
        Op::ListComments,
        Op::CreateTask,
        Op::PatchTask,
        Op::ProcessTask,
        Op::CreateComment,
    ];

    /// The tool called.
    pub fn tool(self) -> &'static str {
        match self {
            Op::GetTask => "get_task",
            Op::ListTasks => "list_tasks",
            Op::Search => "search",
            Op::Fetch => "fetch",
            Op::ListComments => "list_comments",
            Op::CreateTask => "create_task",
            Op::PatchTask => "patch_task",
            Op::ProcessTask => "process_task",
            Op::CreateComment => "create_comment",
        }
    }

    /// Whether the operation writes.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::CreateTask | Op::PatchTask | Op::ProcessTask | Op::CreateComment
        )
    }

    /// `reads` or `writes`.
    pub fn class(self) -> &'static str {
        if self.writes() { "writes" } else { "reads" }
    }

    /// Share of the operation within its class, in percent; each class sums to 100.
    fn share_in_class(self) -> u64 {
        match self {
            Op::GetTask => 30,
            Op::ListTasks => 20,
            Op::Search => 20,
            Op::Fetch => 15,
            Op::ListComments => 15,
            Op::CreateTask => 20,
            Op::PatchTask => 40,
            Op::ProcessTask => 20,
            Op::CreateComment => 20,
        }
    }

    /// Whether a refusal of this operation under contention is expected (a conflict).
    fn may_conflict(self) -> bool {
        matches!(self, Op::PatchTask | Op::ProcessTask)
    }

    fn index(self) -> usize {
        Op::ALL
            .iter()
            .position(|&op| op == self)
            .unwrap_or_default()
    }
}

/// The mix for `write_percent`: each operation's weight, in hundredths of a percent.
fn mix(write_percent: u64) -> Vec<(Op, u64)> {
    let write_percent = write_percent.min(100);
    Op::ALL
        .into_iter()
        .map(|op| {
            let class_share = if op.writes() {
                write_percent
            } else {
                100 - write_percent
            };
            (op, op.share_in_class() * class_share)
        })
        .collect()
}

/// `get_task:24,list_tasks:16,…`: each tool's share of the draws in percent.
fn describe_mix(mix: &[(Op, u64)]) -> String {
    mix.iter()
        .map(|(op, weight)| format!("{}:{}", op.tool(), *weight as f64 / 100.0))
        .collect::<Vec<_>>()
        .join(",")
}

/// The parts of a workspace tool's `structuredContent` the scenario uses: a record's `id`,
/// `version` and `status`, or a list page's `items`. Everything else is skipped unread.
#[derive(Debug, Default, Deserialize)]
struct Head {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
}

/// A record in a list page.
#[derive(Debug, Deserialize)]
struct Item {
    id: String,
    version: i64,
    #[serde(default)]
    status: Option<String>,
}

/// A task as a client last saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    id: String,
    version: i64,
    status: Option<String>,
}

/// The records seeding created.
#[derive(Debug, Default)]
struct Pool {
    tasks: Vec<String>,
    notes: Vec<String>,
}

/// How one call ended.
#[derive(Debug)]
enum Outcome {
    /// The tool did what was asked.
    Done,
    /// An expected refusal under contention.
    Conflict,
    /// Anything else: transport, HTTP, JSON-RPC or protocol failure, or a tool failure that
    /// is not a conflict. The kind names it in the report.
    Failed { kind: String, detail: String },
}

/// One measured call.
#[derive(Debug, Clone, Copy)]
struct Sample {
    op: Op,
    micros: u64,
}

/// What one client saw in the measured window.
#[derive(Debug)]
struct Tally {
    /// Latency of every answered call that was not an error.
    samples: Vec<Sample>,
    calls: [u64; Op::ALL.len()],
    conflicts: [u64; Op::ALL.len()],
    errors: [BTreeMap<String, u64>; Op::ALL.len()],
    /// Legacy sessions the server refused to end.
    session_delete_errors: u64,
    last_done: Option<Instant>,
    streams_left_open: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            samples: Vec::new(),
            calls: [0; Op::ALL.len()],
            conflicts: [0; Op::ALL.len()],
            errors: Default::default(),
            session_delete_errors: 0,
            last_done: None,
            streams_left_open: 0,
        }
    }
}

/// Seeds the workspace, runs the load and returns the report.
pub async fn run(config: WorkspaceConfig) -> anyhow::Result<WorkspaceReport> {
    if config.seed.tasks == 0 {
        bail!("the workspace scenario needs at least one seeded task");
    }
    let target = Arc::new(config.target.clone());
    let mut clients = open_clients(&target, config.concurrency).await?;

    eprintln!(
        "mcpgate-bench: seeding {} tasks, {} notes and {} comments through {} clients at {}",
        config.seed.tasks, config.seed.notes, config.seed.comments, config.concurrency, target.url
    );
    let seeding = Instant::now();
    let pool = Arc::new(seed(&mut clients, config.seed).await?);
    let seeded = SeedSummary {
        tasks: pool.tasks.len(),
        notes: pool.notes.len(),
        comments: config.seed.comments,
        seconds: (seeding.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    };

    let rss_idle = match config.server_pid {
        Some(pid) => Some(read_rss_kib(pid).context("sample server memory (--server-pid)")?),
        None => None,
    };
    let weights = mix(config.write_percent);
    let draw = Arc::new(
        Scenario::weighted(
            weights
                .iter()
                .map(|(op, weight)| (ToolCall::new(op.tool(), json!({})), *weight))
                .collect(),
        )
        .context("the mix has no operation with a positive weight")?,
    );
    let schedule = Arc::new(Schedule::new(config.warmup, Some(config.duration), None));
    let warmup_end = schedule.warmup_end();
    eprintln!(
        "mcpgate-bench: seeded in {:.1}s; {} clients ({} era) running {}; warm-up {:.1}s, window {}",
        seeded.seconds,
        config.concurrency,
        target.era.as_str(),
        describe_mix(&weights),
        config.warmup.as_secs_f64(),
        describe_window(Some(config.duration), None),
    );
    let sampler = config
        .server_pid
        .zip(rss_idle)
        .map(|(pid, idle)| RssSampler::start(pid, idle));
    let cpu_at_window = config.server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(warmup_end.into()).await;
            read_cpu_seconds(pid).ok()
        })
    });

    let seen: SeenKinds = Arc::default();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let worker = Worker {
                client,
                index,
                draws: Draws::new(LOAD_SALT ^ index as u64),
                pool: pool.clone(),
                last_seen: None,
                created: 0,
            };
            tokio::spawn(drive(worker, schedule.clone(), draw.clone(), seen.clone()))
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.context("join a virtual client")?);
    }
    let rss_peak = match sampler {
        Some(sampler) => Some(sampler.finish().await?),
        None => None,
    };
    let server_cpu_s = match (cpu_at_window, config.server_pid) {
        (Some(start), Some(pid)) => {
            let start = start.await.context("join the CPU sampler")?;
            start.zip(read_cpu_seconds(pid).ok()).map(|(a, b)| b - a)
        }
        _ => None,
    };

    let (mut report, answered) = summarise(&config, &weights, seeded, warmup_end, tallies);
    report.rss_idle_kib = rss_idle;
    report.rss_peak_kib = rss_peak;
    if let Some(cpu) = server_cpu_s {
        let answered = answered.max(1) as f64;
        report.server_cpu_us_per_call = Some((cpu * 1e6 / answered * 10.0).round() / 10.0);
    }
    Ok(report)
}

async fn open_clients(target: &Arc<Target>, count: usize) -> anyhow::Result<Vec<VirtualClient>> {
    let scenario = Arc::new(Scenario::empty());
    let opening = (0..count).map(|index| {
        let scenario = scenario.clone();
        async move {
            let mut client = VirtualClient::new(target.clone(), scenario)
                .with_context(|| format!("build HTTP client {index}"))?;
            client
                .open()
                .await
                .with_context(|| format!("open session for client {index} at {}", target.url))?;
            anyhow::Ok(client)
        }
    });
    futures::future::try_join_all(opening).await
}

/// Creates the seed records, spread over every client; the IDs of the tasks and notes.
async fn seed(clients: &mut [VirtualClient], plan: SeedPlan) -> anyhow::Result<Pool> {
    let tasks = seed_phase(clients, plan.tasks, seed_task).await?;
    let notes = seed_phase(clients, plan.notes, seed_note).await?;
    seed_phase(clients, plan.comments, |n| seed_comment(n, &tasks)).await?;
    Ok(Pool { tasks, notes })
}

/// Sends `make(0..count)`, client `c` taking every call whose number is `c` modulo the
/// number of clients; the created records' IDs, in call order. Any failure ends the run.
async fn seed_phase(
    clients: &mut [VirtualClient],
    count: usize,
    make: impl Fn(usize) -> ToolCall + Sync,
) -> anyhow::Result<Vec<String>> {
    let stride = clients.len().max(1);
    let make = &make;
    let phases = clients
        .iter_mut()
        .enumerate()
        .map(|(first, client)| async move {
            let mut created = Vec::new();
            for number in (first..count).step_by(stride) {
                let call = make(number);
                let id = match client.call_tool::<Head>(&call).await {
                    Ok((_, reply)) if !reply.is_error() => reply
                        .structured
                        .and_then(|head| head.id)
                        .with_context(|| format!("seed: {} answered without an ID", call.name))?,
                    Ok((_, reply)) => bail!("seed: {} failed: {}", call.name, reply.text()),
                    Err(error) => {
                        let hint = match error {
                            CallError::JsonRpc { .. } => {
                                " (seeding needs the write tools: does the server run with \
                             MCPGATE_WORKSPACE_WRITE=true, and may the caller's role write?)"
                            }
                            _ => "",
                        };
                        bail!("seed: {} failed: {}{hint}", call.name, error.describe())
                    }
                };
                created.push((number, id));
            }
            anyhow::Ok(created)
        });
    let mut created: Vec<(usize, String)> = futures::future::try_join_all(phases)
        .await?
        .into_iter()
        .flatten()
        .collect();
    created.sort_unstable();
    Ok(created.into_iter().map(|(_, id)| id).collect())
}

fn seed_task(number: usize) -> ToolCall {
    let mut draws = Draws::new(SEED_TASK_SALT ^ number as u64);
    let status = match draws.next_draw() % 10 {
        0..=3 => "todo",
        4..=6 => "in_progress",
        7..=8 => "done",
        _ => "cancelled",
    };
    ToolCall::new(
        "create_task",
        json!({
            "title": format!("{} {number:04}", title(&mut draws, 3)),
            "description": sentence(&mut draws, 8, 16),
            "status": status,
            "priority": pick(&mut draws, &PRIORITIES),
            "tags": tags(&mut draws, 1, 3),
        }),
    )
}

fn seed_note(number: usize) -> ToolCall {
    let mut draws = Draws::new(SEED_NOTE_SALT ^ number as u64);
    ToolCall::new(
        "create_note",
        json!({
            "title": format!("{} note {number:04}", title(&mut draws, 2)),
            "body": sentence(&mut draws, 20, 40),
            "tags": tags(&mut draws, 0, 2),
        }),
    )
}

fn seed_comment(number: usize, tasks: &[String]) -> ToolCall {
    let mut draws = Draws::new(SEED_COMMENT_SALT ^ number as u64);
    ToolCall::new(
        "create_comment",
        json!({
            "target_type": "task",
            "target_id": pick(&mut draws, tasks),
            "body": sentence(&mut draws, 5, 15),
        }),
    )
}

/// One virtual client of the load and what it remembers between calls.
struct Worker {
    client: VirtualClient,
    index: usize,
    draws: Draws,
    pool: Arc<Pool>,
    /// The task this client last read or wrote, as it was then.
    last_seen: Option<Seen>,
    /// Tasks this client created, for unique titles.
    created: u64,
}

impl Worker {
    /// The operation to run for the `drawn` one, and its call with fresh arguments. A
    /// `patch_task` needs a version, so a client that has not read a task since its start or
    /// its last conflict reads one first: the draw becomes a `get_task`.
    fn next_call(&mut self, op: Op) -> (Op, ToolCall) {
        let draws = &mut self.draws;
        let arguments = match op {
            Op::GetTask => json!({ "id": pick(draws, &self.pool.tasks) }),
            Op::ListTasks => {
                if draws.next_draw().is_multiple_of(2) {
                    json!({ "tag": pick(draws, &TAGS) })
                } else {
                    json!({ "status": pick(draws, &STATUSES) })
                }
            }
            Op::Search => {
                let words = 1 + (draws.next_draw() % 2) as usize;
                json!({ "query": sentence(draws, words, words), "limit": 10 })
            }
            Op::Fetch => {
                let notes = self.pool.notes.len() as u64;
                let tasks = self.pool.tasks.len() as u64;
                let n = draws.next_draw() % (tasks + notes);
                let id = match n.checked_sub(tasks) {
                    Some(note) => &self.pool.notes[note as usize],
                    None => &self.pool.tasks[n as usize],
                };
                json!({ "id": id })
            }
            Op::ListComments => json!({ "target_id": pick(draws, &self.pool.tasks) }),
            Op::CreateTask => {
                self.created += 1;
                json!({
                    "title": format!("{} c{}-{}", title(draws, 3), self.index, self.created),
                    "description": sentence(draws, 8, 16),
                    "priority": pick(draws, &PRIORITIES),
                    "tags": tags(draws, 1, 3),
                })
            }
            Op::PatchTask => {
                let Some(seen) = &self.last_seen else {
                    return self.next_call(Op::GetTask);
                };
                let (id, version) = (seen.id.clone(), seen.version);
                let patch = match draws.next_draw() % 10 {
                    0..=3 => json!({ "priority": pick(draws, &PRIORITIES) }),
                    4..=6 => json!({ "description": sentence(draws, 8, 16) }),
                    _ => json!({ "tags": tags(draws, 1, 3) }),
                };
                json!({ "id": id, "version": version, "patch": patch })
            }
            Op::ProcessTask => {
                let (id, status) = match &self.last_seen {
                    Some(seen) => (seen.id.clone(), seen.status.clone()),
                    None => (pick(draws, &self.pool.tasks).to_owned(), None),
                };
                json!({ "id": id, "action": action_for(draws, status.as_deref()) })
            }
            Op::CreateComment => json!({
                "target_type": "task",
                "target_id": pick(draws, &self.pool.tasks),
                "body": sentence(draws, 5, 15),
            }),
        };
        (op, ToolCall::new(op.tool(), arguments))
    }

    /// Classifies the reply to `op` and remembers what it showed of a task.
    fn absorb(&mut self, op: Op, reply: &ToolReply<Head>) -> Outcome {
        if reply.is_error() {
            let text = reply.text();
            if op.may_conflict() && is_conflict(&text) {
                // Read again before the next versioned write, as a real client would.
                self.last_seen = None;
                return Outcome::Conflict;
            }
            return Outcome::Failed {
                kind: "tool_error".to_owned(),
                detail: text,
            };
        }
        let Some(head) = &reply.structured else {
            return Outcome::Done;
        };
        match op {
            Op::GetTask | Op::PatchTask | Op::ProcessTask => {
                if let (Some(id), Some(version)) = (&head.id, head.version) {
                    self.last_seen = Some(Seen {
                        id: id.clone(),
                        version,
                        status: head.status.clone(),
                    });
                }
            }
            Op::ListTasks if !head.items.is_empty() => {
                let item = pick(&mut self.draws, &head.items);
                self.last_seen = Some(Seen {
                    id: item.id.clone(),
                    version: item.version,
                    status: item.status.clone(),
                });
            }
            _ => {}
        }
        Outcome::Done
    }
}

/// Whether a tool failure's text is an expected refusal under contention: a stale version,
/// or a transition that no longer applies to the task's current status.
fn is_conflict(text: &str) -> bool {
    text.starts_with("version conflict") || text.starts_with("cannot ")
}

/// A `process_task` action that fits `status`; any action when the status is unknown.
fn action_for(draws: &mut Draws, status: Option<&str>) -> &'static str {
    let actions: &[&'static str] = match status {
        Some("todo") => &["start", "start", "complete", "cancel"],
        Some("in_progress") => &["complete", "complete", "complete", "cancel"],
        Some("done" | "cancelled") => &["reopen"],
        _ => &["start", "complete", "reopen", "cancel"],
    };
    actions[index_below(draws, actions.len())]
}

async fn drive(
    mut worker: Worker,
    schedule: Arc<Schedule>,
    draw: Arc<Scenario>,
    seen: SeenKinds,
) -> Tally {
    let mut tally = Tally::new();
    while let Some(measured) = schedule.admit() {
        let drawn = Op::ALL[draw.pick(worker.draws.next_draw())];
        let (op, call) = worker.next_call(drawn);
        let (latency, outcome) = match worker.client.call_tool::<Head>(&call).await {
            Ok((latency, reply)) => (Some(latency), worker.absorb(op, &reply)),
            Err(error) => (
                None,
                Outcome::Failed {
                    kind: error.kind(),
                    detail: error.describe(),
                },
            ),
        };
        if !measured {
            continue;
        }
        let slot = op.index();
        tally.calls[slot] += 1;
        tally.last_done = Some(Instant::now());
        match outcome {
            Outcome::Failed { kind, detail } => {
                note_first(&seen, &format!("{} {kind}", op.tool()), || {
                    format!("{detail} (arguments: {})", call.arguments)
                });
                *tally.errors[slot].entry(kind).or_default() += 1;
                continue;
            }
            Outcome::Conflict => tally.conflicts[slot] += 1,
            Outcome::Done => {}
        }
        if let Some(latency) = latency {
            let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            tally.samples.push(Sample { op, micros });
        }
    }
    if let Err(error) = worker.client.close().await {
        note_first(&seen, "session_delete", || error.describe());
        tally.session_delete_errors += 1;
    }
    tally.streams_left_open = worker.client.streams_left_open();
    tally
}

/// Figures for a set of calls being added up.
#[derive(Debug)]
struct Sum {
    latencies: Histogram<u64>,
    calls: u64,
    conflicts: u64,
    errors: BTreeMap<String, u64>,
}

impl Sum {
    fn new() -> Self {
        Self {
            latencies: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
                .expect("1..60s at 3 significant figures is a valid histogram"),
            calls: 0,
            conflicts: 0,
            errors: BTreeMap::new(),
        }
    }

    fn add_counts(&mut self, calls: u64, conflicts: u64, errors: &BTreeMap<String, u64>) {
        self.calls += calls;
        self.conflicts += conflicts;
        for (kind, count) in errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }

    fn stats(&self, class: Option<&'static str>, window_s: f64) -> OpStats {
        OpStats {
            class,
            calls: self.calls,
            calls_per_s: per_second(self.latencies.len(), window_s),
            latency_ms: LatencySummary::from_micros(&self.latencies),
            errors: self.errors.clone(),
            conflicts: self.conflicts,
        }
    }
}

fn per_second(count: u64, window_s: f64) -> f64 {
    if window_s > 0.0 {
        (count as f64 / window_s * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The report, and the number of answered calls (not errors) in the window.
fn summarise(
    config: &WorkspaceConfig,
    weights: &[(Op, u64)],
    seeded: SeedSummary,
    warmup_end: Instant,
    tallies: Vec<Tally>,
) -> (WorkspaceReport, u64) {
    let mut tools: Vec<Sum> = Op::ALL.iter().map(|_| Sum::new()).collect();
    let mut reads = Sum::new();
    let mut writes = Sum::new();
    let mut total = Sum::new();
    let mut last_done = warmup_end;
    let mut streams_left_open = 0;
    for tally in tallies {
        for sample in &tally.samples {
            let micros = sample.micros.max(1);
            let class = if sample.op.writes() {
                &mut writes
            } else {
                &mut reads
            };
            for sum in [&mut tools[sample.op.index()], class, &mut total] {
                sum.latencies.saturating_record(micros);
            }
        }
        for op in Op::ALL {
            let slot = op.index();
            let (calls, conflicts, errors) = (
                tally.calls[slot],
                tally.conflicts[slot],
                &tally.errors[slot],
            );
            let class = if op.writes() { &mut writes } else { &mut reads };
            for sum in [&mut tools[slot], class, &mut total] {
                sum.add_counts(calls, conflicts, errors);
            }
        }
        if tally.session_delete_errors > 0 {
            *total.errors.entry("session_delete".to_owned()).or_default() +=
                tally.session_delete_errors;
        }
        last_done = last_done.max(tally.last_done.unwrap_or(warmup_end));
        streams_left_open += tally.streams_left_open;
    }
    if streams_left_open > 0 {
        eprintln!(
            "mcpgate-bench: server kept {streams_left_open} event streams open after the \
             response; each cost a new connection"
        );
    }
    let window = last_done.duration_since(warmup_end).as_secs_f64();
    let tool_stats = Op::ALL
        .iter()
        .zip(&tools)
        .map(|(op, sum)| (op.tool().to_owned(), sum.stats(Some(op.class()), window)))
        .collect();
    let totals = total.stats(None, window);
    let report = WorkspaceReport {
        scenario: "workspace",
        label: config.label.clone(),
        era: config.target.era.as_str(),
        url: config.target.url.to_string(),
        concurrency: config.concurrency,
        duration_s: (window * 1000.0).round() / 1000.0,
        mix: describe_mix(weights),
        seeded,
        requests: totals.calls,
        errors: totals.errors,
        conflicts: totals.conflicts,
        calls_per_s: totals.calls_per_s,
        latency_ms: totals.latency_ms,
        reads: reads.stats(None, window),
        writes: writes.stats(None, window),
        tools: tool_stats,
        rss_idle_kib: None,
        rss_peak_kib: None,
        server_cpu_us_per_call: None,
    };
    (report, total.latencies.len())
}

/// An element of `items` (not empty), drawn uniformly.
fn pick<'a, T>(draws: &mut Draws, items: &'a [T]) -> &'a T {
    &items[index_below(draws, items.len())]
}

/// A number in `0..len` (`len` > 0), drawn uniformly.
fn index_below(draws: &mut Draws, len: usize) -> usize {
    (draws.next_draw() % len as u64) as usize
}

/// `words` vocabulary words, the first capitalized.
fn title(draws: &mut Draws, words: usize) -> String {
    let text = sentence(draws, words, words);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => text,
    }
}

/// Between `min` and `max` vocabulary words, separated by spaces.
fn sentence(draws: &mut Draws, min: usize, max: usize) -> String {
    let count = min + (draws.next_draw() % (max - min + 1) as u64) as usize;
    (0..count)
        .map(|_| *pick(draws, &WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Between `min` and `max` distinct tags.
fn tags(draws: &mut Draws, min: usize, max: usize) -> Vec<&'static str> {
    let count = min + (draws.next_draw() % (max - min + 1) as u64) as usize;
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let tag = *pick(draws, &TAGS);
        if !chosen.contains(&tag) {
            chosen.push(tag);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_gets_its_share_of_the_mix() {
        let weights = mix(20);
        let share = |writes: bool| -> u64 {
            weights
                .iter()
                .filter(|(op, _)| op.writes() == writes)
                .map(|(_, weight)| weight)
                .sum()
        };
        assert_eq!(share(false), 8000, "reads are 80.00%");
        assert_eq!(share(true), 2000, "writes are 20.00%");
        assert_eq!(
            describe_mix(&weights),
            "get_task:24,list_tasks:16,search:16,fetch:12,list_comments:12,create_task:4,\
             patch_task:8,process_task:4,create_comment:4"
        );
        assert!(mix(0).iter().all(|(op, w)| !op.writes() || *w == 0));
    }

    #[test]
    fn only_stale_versions_and_inapplicable_transitions_are_conflicts() {
        assert!(is_conflict(
            "version conflict: task task_1 is at version 3, not 2; read it again"
        ));
        assert!(is_conflict(
            "cannot start a task that is done; only a todo task can be started"
        ));
        assert!(!is_conflict("the workspace store failed"));
        assert!(!is_conflict("task \"x\" not found"));
    }

    #[test]
    fn actions_fit_the_status_last_seen() {
        let mut draws = Draws::new(3);
        for _ in 0..50 {
            assert!(
                ["start", "complete", "cancel"].contains(&action_for(&mut draws, Some("todo")))
            );
            assert!(["complete", "cancel"].contains(&action_for(&mut draws, Some("in_progress"))));
            assert_eq!(action_for(&mut draws, Some("done")), "reopen");
        }
    }

    #[test]
    fn generated_text_stays_in_the_vocabulary() {
        let mut draws = Draws::new(9);
        for _ in 0..100 {
            let chosen = tags(&mut draws, 1, 3);
            assert!((1..=3).contains(&chosen.len()));
            let mut unique = chosen.clone();
            unique.dedup();
            assert_eq!(unique.len(), chosen.len(), "tags are distinct: {chosen:?}");
            let text = sentence(&mut draws, 1, 2);
            assert!(text.split(' ').all(|word| WORDS.contains(&word)), "{text}");
        }
        let call = seed_task(7);
        assert!(
            call.arguments["title"]
                .as_str()
                .is_some_and(|t| t.ends_with(" 0007"))
        );
        assert_eq!(seed_task(7), call, "seeding is deterministic");
    }

    fn worker() -> Worker {
        let target = Target {
            url: "http://127.0.0.1:9/mcp".parse().expect("valid URL"),
            era: crate::protocol::Era::Modern,
            base_headers: crate::protocol::base_headers(None, &[]),
            timeout: Duration::from_secs(1),
        };
        Worker {
            client: VirtualClient::new(Arc::new(target), Arc::new(Scenario::empty()))
                .expect("client builds"),
            index: 0,
            draws: Draws::new(1),
            pool: Arc::new(Pool {
                tasks: vec!["task_seeded".into()],
                notes: vec!["note_seeded".into()],
            }),
            last_seen: None,
            created: 0,
        }
    }

    fn reply(body: &str) -> ToolReply<Head> {
        serde_json::from_str(body).expect("valid reply")
    }

    #[test]
    fn writes_use_what_the_client_last_saw_and_forget_it_on_conflict() {
        let mut worker = worker();
        let page = reply(
            r#"{"isError":false,"content":[{"type":"text","text":"{}"}],"structuredContent":
            {"items":[{"id":"task_1","version":4,"status":"done","title":"x"}],"next_cursor":"c"}}"#,
        );
        assert!(matches!(worker.absorb(Op::ListTasks, &page), Outcome::Done));
        let (op, patch) = worker.next_call(Op::PatchTask);
        assert_eq!(op, Op::PatchTask);
        assert_eq!(patch.arguments["id"], "task_1");
        assert_eq!(patch.arguments["version"], 4);
        let (_, process) = worker.next_call(Op::ProcessTask);
        assert_eq!(process.arguments["action"], "reopen", "the task was done");

        let conflict = reply(
            r#"{"isError":true,"content":[{"type":"text","text":"version conflict: task task_1 is at version 5, not 4"}]}"#,
        );
        assert!(matches!(
            worker.absorb(Op::PatchTask, &conflict),
            Outcome::Conflict
        ));
        let (op, read) = worker.next_call(Op::PatchTask);
        assert_eq!(
            op,
            Op::GetTask,
            "read again before the next versioned write"
        );
        assert_eq!(read.name, "get_task");
        assert_eq!(read.arguments["id"], "task_seeded");
    }

    #[test]
    fn a_failed_read_is_an_error_not_a_conflict() {
        let failed = reply(
            r#"{"isError":true,"content":[{"type":"text","text":"version conflict: impossible"}]}"#,
        );
        match worker().absorb(Op::GetTask, &failed) {
            Outcome::Failed { kind, detail } => {
                assert_eq!(kind, "tool_error");
                assert!(detail.starts_with("version conflict"));
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
