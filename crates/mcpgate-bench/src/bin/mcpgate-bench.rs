//! `mcpgate-bench`: closed-loop MCP load, cold-start timing with `coldstart`, the mixed
//! read/write `workspace` scenario, seeding at scale with `seed`, the memory of idle legacy sessions with `sessions`, or what a legacy session's move to another replica costs with `handoff`.
//!
//! Prints exactly one JSON line on stdout; progress, diagnostics and the `workspace` summary
//! table go to stderr. Exits 64
//! when the command line is invalid (every problem is listed) and 1 when the run fails.

use std::process::ExitCode;

use clap::Parser;
use mcpgate_bench::cli::{Cli, Command, ConfigErrors};
use mcpgate_bench::{coldstart, handoff, loadgen, report, sessions, workspace};

/// `EX_USAGE` from sysexits.h.
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Coldstart(args)) => match args.resolve() {
            Ok(config) => execute(None, async {
                report::print_line(&coldstart::run(config).await?)
            }),
            Err(errors) => bad_config(errors),
        },
        Some(Command::Workspace(args)) => {
            let threads = args.threads;
            match args.resolve() {
                Ok(config) => execute(threads, async {
                    let report = workspace::run(config).await?;
                    eprint!("{}", report.human());
                    report::print_line(&report)
                }),
                Err(errors) => bad_config(errors),
            }
        }
        Some(Command::Seed(args)) => match args.resolve() {
            Ok(plan) => execute(None, async {
                let (_, seeded) = workspace::seed_scale(&plan).await?;
                report::print_line(&serde_json::json!({
                    "seeded": seeded,
                    "words": workspace::sample_words(),
                }))
            }),
            Err(errors) => bad_config(errors),
        },
        Some(Command::Handoff(args)) => match args.resolve() {
            Ok(config) => execute(None, async {
                report::print_line(&handoff::run(config).await?)
            }),
            Err(errors) => bad_config(errors),
        },
        Some(Command::Sessions(args)) => match args.resolve() {
            Ok(config) => execute(None, async {
                report::print_line(&sessions::run(config).await?)
            }),
            Err(errors) => bad_config(errors),
        },
        None => {
            let threads = cli.load.threads;
            match cli.load.resolve() {
                Ok(config) => execute(threads, async {
                    report::print_line(&loadgen::run(config).await?)
                }),
                Err(errors) => bad_config(errors),
            }
        }
    }
}

fn execute(threads: Option<usize>, work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    let outcome = builder
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(work));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcpgate-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn bad_config(errors: ConfigErrors) -> ExitCode {
    for problem in &errors.0 {
        eprintln!("mcpgate-bench: {problem}");
    }
    ExitCode::from(EXIT_BAD_CONFIG)
}
