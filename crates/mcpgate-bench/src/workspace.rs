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
//!
//! This module holds the configuration and runs the phases in order; the submodules split the
//! rest by concern: `mix` is the weighted choice of operations, `text` the vocabulary that
//! titles, bodies, tags and queries are drawn from, `seed` creates the records before the load,
//! `worker` is one client's loop and what it remembers between calls, and `tally` adds up what
//! every client saw into the report.

mod corpus;
mod mix;
mod scale;
mod seed;
mod tally;
mod text;
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Target, VirtualClient};
use crate::loadgen::{Schedule, SeenKinds, describe_window};
use crate::report::{SeedSummary, ServerMemory, WorkspaceReport};
use crate::rss::{ServerWatch, cpu_us_per_call, read_memory};
use crate::scenario::{Draws, Scenario, ToolCall};

use corpus::Corpus;
pub use mix::Op;
use mix::{describe_mix, mix};
pub use scale::ScalePlan;
use scale::{Seeded, seed_at_scale};
pub use seed::Pool;
use seed::seed;
use tally::summarise;
use worker::{Worker, drive};

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
    /// What to create before the load through the tools.
    pub seed: SeedPlan,
    /// Instead, records to write straight into the server's database.
    pub scale: Option<ScalePlan>,
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

/// Salts that keep the draws of seeding, of each seed kind and of the load apart.
const SEED_TASK_SALT: u64 = 0x7a5c_0000_0000_0000;
const SEED_NOTE_SALT: u64 = 0x4e07_0000_0000_0000;
const SEED_COMMENT_SALT: u64 = 0xc033_0000_0000_0000;
const LOAD_SALT: u64 = 0x10ad_0000_0000_0000;

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

/// Seeds the workspace, runs the load and returns the report.
pub async fn run(config: WorkspaceConfig) -> anyhow::Result<WorkspaceReport> {
    let target = Arc::new(config.target.clone());
    let mut clients = open_clients(&target, config.concurrency).await?;
    let (pool, seeded) = match &config.scale {
        Some(plan) => seed_scale(plan).await?,
        None => seed_through_tools(&mut clients, config.seed, &target).await?,
    };
    if pool.tasks.is_empty() {
        bail!("the workspace scenario needs at least one seeded task");
    }
    let pool = Arc::new(pool);

    let rss_idle = match config.server_pid {
        Some(pid) => Some(read_memory(pid).context("sample server memory (--server-pid)")?),
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
    let watch = ServerWatch::start(config.server_pid, rss_idle, warmup_end);

    let seen: SeenKinds = Arc::default();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let worker = Worker::new(
                client,
                index,
                Draws::new(LOAD_SALT ^ index as u64),
                pool.clone(),
            );
            tokio::spawn(drive(worker, schedule.clone(), draw.clone(), seen.clone()))
        })
        .collect();
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.context("join a virtual client")?);
    }
    let (rss_peak, server_cpu_s) = watch.finish().await?;

    let (mut report, answered) = summarise(&config, &weights, seeded, warmup_end, tallies);
    report.memory = ServerMemory::new(rss_idle, rss_peak);
    report.server_cpu_us_per_call = server_cpu_s.map(|cpu| cpu_us_per_call(cpu, answered));
    Ok(report)
}

/// Seeds through the MCP tools, spread over the clients.
async fn seed_through_tools(
    clients: &mut [VirtualClient],
    plan: SeedPlan,
    target: &Target,
) -> anyhow::Result<(Pool, SeedSummary)> {
    eprintln!(
        "mcpgate-bench: seeding {} tasks, {} notes and {} comments through {} clients at {}",
        plan.tasks,
        plan.notes,
        plan.comments,
        clients.len(),
        target.url
    );
    let seeding = Instant::now();
    let pool = seed(clients, plan).await?;
    let seeded = SeedSummary {
        tasks: pool.tasks.len(),
        notes: pool.notes.len(),
        comments: plan.comments,
        records: pool.tasks.len() + pool.notes.len() + plan.comments,
        seconds: rounded_seconds(seeding.elapsed()),
    };
    Ok((pool, seeded))
}

/// Seeds straight into the server's database (see `scale`).
pub async fn seed_scale(plan: &ScalePlan) -> anyhow::Result<(Pool, SeedSummary)> {
    eprintln!(
        "mcpgate-bench: seeding {} records straight into {} with {} writers",
        plan.records, plan.database_url, plan.writers
    );
    let Seeded {
        pool,
        records,
        elapsed,
    } = seed_at_scale(plan).await?;
    let seeded = SeedSummary {
        tasks: pool.tasks.len(),
        notes: pool.notes.len(),
        comments: 0,
        records,
        seconds: rounded_seconds(elapsed),
    };
    Ok((pool, seeded))
}

/// Words of the scale corpus at a few ranks, with the share of drawn words each is: what to
/// search for to meet a common word, a middling one and a rare one.
pub fn sample_words() -> Vec<serde_json::Value> {
    let corpus = Corpus::new(scale::VOCABULARY, scale::EXPONENT);
    [1, 2, 11, 30, 100, 1_000, 10_000, 40_000]
        .into_iter()
        .filter_map(|rank| {
            let word = corpus.word(rank)?;
            Some(json!({ "rank": rank, "word": word, "share": corpus.share(rank) }))
        })
        .collect()
}

fn rounded_seconds(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 1000.0).round() / 1000.0
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
