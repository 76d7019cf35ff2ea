//! End to end: the workspace scenario against a real mcpgate serving SQLite in this process.

use std::collections::HashMap;
use std::time::Duration;

use mcpgate::App;
use mcpgate::config::{Overrides, resolve};
use mcpgate_bench::client::Target;
use mcpgate_bench::protocol::{Era, base_headers};
use mcpgate_bench::workspace::{self, Op, ScalePlan, SeedPlan, WorkspaceConfig};
use reqwest::Url;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running in-process server; stops when dropped.
struct Server {
    url: Url,
    _stop: oneshot::Sender<()>,
    dir: tempfile::TempDir,
}

/// mcpgate on a fresh SQLite data directory and a free port, with workspace writes as given.
async fn start_mcpgate(write: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let env: HashMap<String, String> = [
        ("MCPGATE_DATA_DIR", dir.path().display().to_string()),
        ("MCPGATE_WORKSPACE_WRITE", write.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let config = resolve(&env, &Overrides::default()).expect("test configuration is valid");
    let app = App::build(config).await.expect("app builds");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback has free ports");
    let addr = listener.local_addr().expect("bound socket has an address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.serve_http(listener, async {
        let _ = stopped.await;
    }));
    Server {
        url: Url::parse(&format!("http://{addr}/mcp")).expect("valid URL"),
        _stop: stop,
        dir,
    }
}

fn config(url: Url) -> WorkspaceConfig {
    WorkspaceConfig {
        target: Target {
            url,
            era: Era::Modern,
            base_headers: base_headers(None, &[]),
            timeout: Duration::from_secs(30),
        },
        concurrency: 4,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        seed: SeedPlan {
            tasks: 40,
            notes: 15,
            comments: 20,
        },
        scale: None,
        write_percent: 20,
        label: Some("test".to_owned()),
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workspace_tool_runs_without_errors() {
    let server = start_mcpgate(true).await;
    let report = workspace::run(config(server.url.clone()))
        .await
        .expect("the run completes");

    assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
    assert_eq!(report.seeded.tasks, 40);
    assert_eq!(report.seeded.notes, 15);
    for op in Op::ALL {
        let tool = &report.tools[op.tool()];
        assert!(tool.calls > 0, "{} was never called", op.tool());
        assert!(tool.errors.is_empty(), "{}: {:?}", op.tool(), tool.errors);
        assert_eq!(tool.class, Some(op.class()), "{}", op.tool());
        if !matches!(op, Op::PatchTask | Op::ProcessTask) {
            assert_eq!(tool.conflicts, 0, "{} cannot conflict", op.tool());
        }
    }
    assert!(report.reads.calls > 0 && report.writes.calls > 0);
    assert_eq!(report.requests, report.reads.calls + report.writes.calls);
    assert_eq!(
        report.requests,
        report.tools.values().map(|tool| tool.calls).sum::<u64>()
    );
    assert_eq!(report.conflicts, report.writes.conflicts);
    assert!(report.calls_per_s > 0.0);
    assert!(report.latency_ms.p50 <= report.latency_ms.p99);
    assert!(report.human().contains("patch_task"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_a_read_only_server_fails_with_a_hint() {
    let server = start_mcpgate(false).await;
    let error = workspace::run(config(server.url.clone()))
        .await
        .expect_err("create_task is not registered without workspace writes");
    let text = format!("{error:#}");
    assert!(text.contains("create_task"), "{text}");
    assert!(text.contains("MCPGATE_WORKSPACE_WRITE=true"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_at_scale_writes_straight_into_the_servers_database() {
    let server = start_mcpgate(true).await;
    let database_url = format!(
        "sqlite://{}",
        server.dir.path().join("mcpgate.db").display()
    );
    let mut config = config(server.url.clone());
    config.scale = Some(ScalePlan {
        records: 1_200,
        // The org of the server's default principal (no auth), which the load runs as.
        org: "default".to_owned(),
        database_url: database_url.clone(),
        writers: 3,
    });
    let report = workspace::run(config).await.expect("the run completes");
    assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
    assert_eq!(report.seeded.records, 1_200);
    // About 80% of the records are the load's org's: 60% of those tasks, 25% notes.
    let (tasks, notes) = (report.seeded.tasks, report.seeded.notes);
    assert!((450..700).contains(&tasks), "{tasks} tasks");
    assert!((160..320).contains(&notes), "{notes} notes");

    // What seeding wrote: every org's records, every text with `the`, comments on tasks
    // of their own org, tags and every status.
    let pool = sqlx::SqlitePool::connect(&database_url)
        .await
        .expect("open");
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    assert_eq!(count("SELECT count(DISTINCT org) FROM records").await, 5);
    assert_eq!(
        count(
            "SELECT count(*) FROM records WHERE updated_by = 'seed' \
             AND ' ' || body || ' ' NOT LIKE '% the %'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM records c JOIN records t ON t.id = c.parent_id \
             WHERE c.kind = 'comment' AND (t.org <> c.org OR t.kind <> 'task')"
        )
        .await,
        0
    );
    assert!(count("SELECT count(*) FROM records WHERE kind = 'comment'").await > 100);
    assert!(count("SELECT count(*) FROM records WHERE tags <> '[]'").await > 300);
    assert_eq!(
        count("SELECT count(DISTINCT status) FROM records WHERE kind = 'task'").await,
        4
    );
}
