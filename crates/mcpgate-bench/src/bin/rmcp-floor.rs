//! `rmcp-floor`: the smallest rmcp Streamable HTTP server, the baseline for benchmarks.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// Minimal rmcp 3.9 server with one `health` tool at `/mcp`, for comparison runs.
#[derive(Debug, Parser)]
#[command(name = "rmcp-floor", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match mcpgate_bench::floor::serve(cli.listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rmcp-floor: {error:#}");
            ExitCode::FAILURE
        }
    }
}
