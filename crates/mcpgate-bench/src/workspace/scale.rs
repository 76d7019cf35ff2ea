//! Seeding at scale: up to millions of records written straight into the database a server
//! runs on, through mcpgate's own workspace service and store (so every derived column, index,
//! search word and slug is what the tools would have written), many writers at once.
//!
//! Seeding through the MCP tools (see `seed`) runs at a few hundred records a second, which
//! takes hours for a million. This path skips HTTP and the edge, not the store: each record is
//! still validated as `create` validates it, and written by the store's own insert, a batch of
//! one org's records per transaction.
//!
//! The workspace it makes: `records` records over several orgs, most of them (80%) in the org
//! the load runs as, the rest spread over four others so that every query's tenant filter has
//! other orgs' rows to skip; 60% tasks (statuses 40% todo, 25% in progress, 25% done, 10%
//! cancelled; 0–3 tags each), 25% notes, 15% comments on a task of the same org. Text is drawn
//! from the Zipf-distributed [`Corpus`]. Record `n` is drawn from its own salted sequence, so
//! two runs make the same workspace (IDs and timestamps aside).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mcpgate::edge::{AuthVia, Principal};
use mcpgate::store::{self, StoreConfig};
use mcpgate::workspace::{Kind, Tenant, WorkspaceLimits, WorkspaceService};
use serde_json::{Value, json};

use super::corpus::{Corpus, between};
use super::seed::Pool;
use super::text::PRIORITIES;
use crate::scenario::Draws;

/// Salt of the draws of seeding at scale.
const SCALE_SALT: u64 = 0x5ca1_e000_0000_0000;

/// Words in the vocabulary, and the Zipf exponent of their frequencies.
pub const VOCABULARY: usize = 50_000;
/// Exponent of the word frequencies (1.0 is Zipf's law for English).
pub const EXPONENT: f64 = 1.0;

/// Orgs besides the measured one.
const OTHER_ORGS: [&str; 4] = ["globex", "initech", "umbrella", "hooli"];

/// What to seed, and where.
#[derive(Debug, Clone)]
pub struct ScalePlan {
    /// Records to write, over every org.
    pub records: usize,
    /// The org the load runs as (80% of the records).
    pub org: String,
    /// The database the server runs on (`sqlite://PATH` or `postgres://…`).
    pub database_url: String,
    /// Records written at once.
    pub writers: usize,
}

/// What seeding at scale made.
#[derive(Debug)]
pub struct Seeded {
    /// The measured org's tasks and notes.
    pub pool: Pool,
    /// Records written, over every org.
    pub records: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// One record to write.
enum Draft {
    Task(Value),
    Note(Value),
    Comment(String),
}

/// Writes the plan's records, printing progress to stderr; the measured org's IDs.
pub async fn seed_at_scale(plan: &ScalePlan) -> anyhow::Result<Seeded> {
    if plan.records == 0 || plan.writers == 0 {
        bail!("seeding at scale needs at least one record and one writer");
    }
    let config = StoreConfig {
        database_url: plan.database_url.clone(),
        max_connections: u32::try_from(plan.writers).unwrap_or(u32::MAX),
        acquire_timeout: Duration::from_secs(60),
        min_connections: 0,
        idle_timeout: Duration::from_secs(600),
        sqlite_mmap_size: 0,
        health_probe_ttl: Duration::from_secs(1),
    };
    let store = store::open(&config)
        .await
        .with_context(|| format!("open the store at {}", plan.database_url))?;
    store.migrate().await.context("apply migrations")?;
    let service = Arc::new(WorkspaceService::new(
        store.clone(),
        WorkspaceLimits {
            default_page_size: 20,
            max_page_size: 100,
            max_result_bytes: 1 << 20,
            public_url: "http://127.0.0.1:8080".to_owned(),
        },
    ));
    let corpus = Arc::new(Corpus::new(VOCABULARY, EXPONENT));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let progress = tokio::spawn(report_progress(done.clone(), plan.records, started));
    let writers = (0..plan.writers).map(|first| {
        let (service, corpus, done) = (service.clone(), corpus.clone(), done.clone());
        let plan = plan.clone();
        tokio::spawn(async move { write_share(&service, &corpus, &plan, first, &done).await })
    });
    let mut pool = Pool::default();
    for writer in futures::future::join_all(writers).await {
        let share = writer.context("join a seeding writer")??;
        pool.tasks.extend(share.tasks);
        pool.notes.extend(share.notes);
    }
    progress.abort();
    store.close().await;
    Ok(Seeded {
        pool,
        records: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

/// Records written per transaction.
const BATCH: usize = 1000;
/// Records of an org's first transaction.
const FIRST_BATCH: usize = 20;

/// Writes every record whose number is `first` modulo the number of writers, in batches of
/// one org's records.
async fn write_share(
    service: &WorkspaceService,
    corpus: &Corpus,
    plan: &ScalePlan,
    first: usize,
    done: &AtomicUsize,
) -> anyhow::Result<Pool> {
    let tenants: Vec<Tenant> = std::iter::once(plan.org.as_str())
        .chain(OTHER_ORGS)
        .map(|org| Tenant::of(&Principal::new("seed", org, "editor", AuthVia::Default)))
        .collect();
    // Per org: its tasks written so far (what its comments are on) and its unwritten batch.
    let mut tasks: Vec<Vec<String>> = vec![Vec::new(); tenants.len()];
    let mut batches: Vec<Vec<(Kind, Value)>> = vec![Vec::new(); tenants.len()];
    let mut notes = Vec::new();
    for number in (first..plan.records).step_by(plan.writers) {
        let mut draws = Draws::new(SCALE_SALT ^ number as u64);
        let org = match draws.next_draw() % 100 {
            0..80 => 0,
            share => 1 + (share % OTHER_ORGS.len() as u64) as usize,
        };
        let record = match draft(corpus, &mut draws, &tasks[org]) {
            Draft::Task(fields) => (Kind::Task, fields),
            Draft::Note(fields) => (Kind::Note, fields),
            Draft::Comment(body) => {
                let target = &tasks[org][between(&mut draws, 0, tasks[org].len() - 1)];
                let fields = json!({ "target_type": "task", "target_id": target, "body": body });
                (Kind::Comment, fields)
            }
        };
        batches[org].push(record);
        // An org's first batch is small, so that its comments soon have tasks to be on.
        let limit = if tasks[org].is_empty() {
            FIRST_BATCH
        } else {
            BATCH
        };
        if batches[org].len() >= limit {
            let batch = std::mem::take(&mut batches[org]);
            let notes = (org == 0).then_some(&mut notes);
            write_batch(service, &tenants[org], batch, &mut tasks[org], notes, done).await?;
        }
    }
    for (org, batch) in batches.into_iter().enumerate() {
        let notes = (org == 0).then_some(&mut notes);
        write_batch(service, &tenants[org], batch, &mut tasks[org], notes, done).await?;
    }
    Ok(Pool {
        tasks: tasks.swap_remove(0),
        notes,
    })
}

/// Writes one org's batch in one transaction; the IDs of its tasks (and notes, if wanted).
async fn write_batch(
    service: &WorkspaceService,
    tenant: &Tenant,
    batch: Vec<(Kind, Value)>,
    tasks: &mut Vec<String>,
    mut notes: Option<&mut Vec<String>>,
    done: &AtomicUsize,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let drafts: Vec<(Kind, &Value)> = batch.iter().map(|(kind, fields)| (*kind, fields)).collect();
    let created = service
        .create_many(tenant, &drafts)
        .await
        .with_context(|| format!("seed {} records for {}", drafts.len(), tenant.org()))?;
    for ((kind, _), record) in drafts.iter().zip(&created) {
        let id = record["id"]
            .as_str()
            .context("a created record without an ID")?
            .to_owned();
        match (kind, notes.as_deref_mut()) {
            (Kind::Task, _) => tasks.push(id),
            (Kind::Note, Some(notes)) => notes.push(id),
            _ => {}
        }
    }
    done.fetch_add(created.len(), Ordering::Relaxed);
    Ok(())
}

/// The fields of one record: a comment only when the org has a task to comment on.
fn draft(corpus: &Corpus, draws: &mut Draws, org_tasks: &[String]) -> Draft {
    match draws.next_draw() % 100 {
        0..60 => {
            let status = match draws.next_draw() % 100 {
                0..40 => "todo",
                40..65 => "in_progress",
                65..90 => "done",
                _ => "cancelled",
            };
            Draft::Task(json!({
                "title": corpus.title(draws, 3, 7),
                "description": corpus.text(draws, 10, 40),
                "status": status,
                "priority": PRIORITIES[between(draws, 0, PRIORITIES.len() - 1)],
                "tags": corpus.tags(draws, 3),
            }))
        }
        60..85 => Draft::Note(json!({
            "title": corpus.title(draws, 3, 6),
            "body": corpus.text(draws, 40, 150),
            "tags": corpus.tags(draws, 2),
        })),
        _ if org_tasks.is_empty() => Draft::Note(json!({
            "title": corpus.title(draws, 3, 6),
            "body": corpus.text(draws, 40, 150),
        })),
        _ => Draft::Comment(corpus.text(draws, 8, 40)),
    }
}

/// Prints the records written and the rate every five seconds.
async fn report_progress(done: Arc<AtomicUsize>, total: usize, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        let written = done.load(Ordering::Relaxed);
        eprintln!(
            "mcpgate-bench: seeded {written} of {total} records ({:.0}/s)",
            written as f64 / started.elapsed().as_secs_f64()
        );
    }
}
