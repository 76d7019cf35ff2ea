//! The command line (the public contract): `serve`, `migrate`, `health`, `reload`, `config check`,
//! `upstreams …`, `--version`.

mod probe;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::app::{AdminServer, App, shutdown_signal};
use crate::config::{self, Config, ConfigError, EXIT_CONFIG, Overrides, ProcessEnv, Transport};
use crate::store;
use crate::telemetry;

/// mcpgate: a production MCP server and gateway.
#[derive(Debug, Parser)]
#[command(name = "mcpgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over stdio or Streamable HTTP.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(ConfigArg),
    /// Probe this server's /healthz (or /readyz) and exit 0 when it answers 200, 1 otherwise
    /// (for container HEALTHCHECKs; reads the same configuration as `serve`).
    Health(HealthArgs),
    /// Ask the running server (through its admin listener) to read its configuration again
    /// and apply what can change live; prints what changed and what needs a restart. Exits 1
    /// when the new configuration is refused (the one in force stays). SIGHUP does the same.
    Reload(ConfigArg),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Upstream MCP server commands.
    #[command(subcommand)]
    Upstreams(UpstreamsCommand),
}

#[derive(Debug, Subcommand)]
enum UpstreamsCommand {
    /// Connect to each configured upstream once: its protocol, its tools and the names they
    /// are exposed under, or what is wrong. Exits 1 when a required upstream fails.
    Check(ConfigArg),
    /// Accept the current tool definitions of the upstream NAME as its pins (after a change
    /// that `pinning = "block"` held back, or a `warn`).
    Approve(NameArgs),
    /// Authorize the upstream NAME for a user (its `[upstreams.oauth]` grant is
    /// `authorization_code`): prints a URL to open in a browser, waits for the redirect on a
    /// loopback port, and stores the grant sealed with MCPGATE_SECRET_KEY.
    Login(NameArgs),
    /// Run the upstream client alone against one Streamable HTTP server, as the official
    /// conformance suite's client scenarios drive a client (`MCP_CONFORMANCE_*`).
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// The URL of the client ID metadata document to present as the client id, where the
    /// server supports them (else the client registers, or uses the context's client).
    #[arg(long, value_name = "URL")]
    client_metadata_url: Option<String>,
    /// The server's MCP endpoint.
    url: String,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// Probe /readyz (ready to serve) instead of /healthz (alive).
    #[arg(long)]
    ready: bool,
    /// The URL to probe instead of the configured listener's.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Give up after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// TOML configuration file (env MCPGATE_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct NameArgs {
    /// The upstream's name.
    name: String,
    /// TOML configuration file (env MCPGATE_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration without serving; lists every problem.
    Check(ConfigArg),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// TOML configuration file (env MCPGATE_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// `stdio` or `http` (env MCPGATE_TRANSPORT; default http).
    #[arg(long, value_name = "TRANSPORT")]
    transport: Option<String>,
    /// Address to listen on (env MCPGATE_LISTEN; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// TOML configuration file (env MCPGATE_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve without authentication (auth none or dev) on a non-loopback address (env
    /// MCPGATE_ALLOW_UNAUTHENTICATED).
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Proxy mode: relay the MCP endpoint to this upstream Streamable HTTP server, behind the
    /// whole edge (env MCPGATE_PROXY; `[proxy]` in the file).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
}

/// Parse the command line, run the command, and return the process exit code.
pub fn run() -> i32 {
    crate::upstream::install_default_provider();
    let cli = Cli::parse();
    let overrides = match &cli.command {
        Command::Serve(a) => Overrides {
            config_file: a.config.clone(),
            transport: a.transport.clone(),
            listen: a.listen.clone(),
            allow_unauthenticated: a.allow_unauthenticated,
            proxy: a.proxy.clone(),
        },
        Command::Migrate(a)
        | Command::Reload(a)
        | Command::Config(ConfigCommand::Check(a))
        | Command::Upstreams(UpstreamsCommand::Check(a)) => Overrides {
            config_file: a.config.clone(),
            ..Default::default()
        },
        Command::Health(a) => Overrides {
            config_file: a.config.clone(),
            ..Default::default()
        },
        Command::Upstreams(UpstreamsCommand::Approve(a) | UpstreamsCommand::Login(a)) => {
            Overrides {
                config_file: a.config.clone(),
                ..Default::default()
            }
        }
        Command::Upstreams(UpstreamsCommand::Probe(_)) => Overrides::default(),
    };
    let config = match config::resolve(&ProcessEnv, &overrides) {
        Ok(c) => c,
        Err(e) => return config_failure(&e),
    };
    if let Command::Config(ConfigCommand::Check(_)) = cli.command {
        println!("configuration ok");
        println!("  transport:  {:?}", config.transport);
        println!(
            "  listen:     {}{}",
            config.http.listen, config.http.mcp_path
        );
        println!("  database:   {}", redact_url(&config.store.database_url));
        match &config.proxy {
            Some(upstream) => println!("  proxy to:   {:?}", upstream.transport),
            None => println!("  modules:    {}", config.modules.enabled.join(", ")),
        }
        println!("  auth:       {:?}", config.auth.mode);
        let limits = &config.rate_limit;
        let rate = |q: Option<crate::edge::Quota>| q.map_or("off".to_owned(), |q| q.to_string());
        println!(
            "  limits:     per caller {}, anonymous {}, {} tool rule(s), {}",
            rate(limits.per_subject),
            rate(limits.anonymous),
            limits.tools.len(),
            match &config.redis_url {
                Some(url) => format!("shared through Redis at {}", redact_url(&url.0)),
                None => "in process".to_owned(),
            }
        );
        println!("  public url: {}", config.http.public_url);
        println!(
            "  admin:      {}{}",
            config
                .admin
                .listen
                .map_or("off".to_owned(), |a| a.to_string()),
            match (&config.admin.metrics_token, config.admin.public_metrics) {
                (Some(_), true) => " (metrics token set; metrics on the public listener too)",
                (Some(_), false) => " (metrics token set)",
                (None, true) => " (metrics on the public listener too)",
                (None, false) => "",
            }
        );
        return 0;
    }
    // The worker count is always given, so Tokio never reads (and panics on) its own variable.
    let workers = config.worker_threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(workers)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcpgate: cannot start the async runtime: {e}");
            return 1;
        }
    };
    // Spans are exported by the server only (the exporter runs on the runtime).
    let _runtime = runtime.enter();
    let traces = matches!(cli.command, Command::Serve(_)).then_some(&config.traces);
    let log = telemetry::init_logging(&config.log, traces);
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => serve(config, overrides, log).await,
            Command::Migrate(_) => migrate(config).await,
            Command::Reload(_) => {
                if probe::reload(&config, std::time::Duration::from_secs(30)).await? {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("the server refused the new configuration"))
                }
            }
            Command::Health(a) => {
                if probe::health(&config, a.url.as_deref(), a.ready, a.timeout).await? {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "the server is not {}",
                        if a.ready { "ready" } else { "healthy" }
                    ))
                }
            }
            Command::Config(_) => Ok(()),
            Command::Upstreams(UpstreamsCommand::Approve(a)) => approve(config, &a.name).await,
            Command::Upstreams(UpstreamsCommand::Login(a)) => {
                print!(
                    "{}",
                    crate::upstream::login(&config.upstreams, &a.name).await?
                );
                Ok(())
            }
            Command::Upstreams(UpstreamsCommand::Probe(a)) => {
                print!(
                    "{}",
                    crate::upstream::probe(&a.url, a.client_metadata_url.as_deref()).await?
                );
                Ok(())
            }
            Command::Upstreams(UpstreamsCommand::Check(_)) => {
                let (report, ok) = crate::upstream::check(&config.upstreams).await;
                print!("{report}");
                if ok {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("a required upstream failed its check"))
                }
            }
        }
    });
    match result {
        Ok(()) => 0,
        // What only shows once the modules are built (a tool name taken twice) is still bad
        // configuration.
        Err(e) if e.downcast_ref::<ConfigError>().is_some() => {
            tracing::error!(error = format!("{e:#}"), "mcpgate failed");
            eprintln!("mcpgate: {e:#}");
            EXIT_CONFIG
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mcpgate failed");
            eprintln!("mcpgate: {e:#}");
            1
        }
    }
}

fn config_failure(e: &ConfigError) -> i32 {
    eprintln!("mcpgate: {e}");
    EXIT_CONFIG
}

/// Hide a password in a database URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn serve(
    mut config: Config,
    overrides: Overrides,
    log: telemetry::LogHandle,
) -> anyhow::Result<()> {
    let resolved = config.clone();
    // Both listeners are bound before anything is built, so a taken port fails at once.
    let admin = match config.admin.listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                config.admin.listen = Some(listener.local_addr()?);
                Some(listener)
            }
            Err(e) if config.admin.listen_configured => {
                anyhow::bail!("cannot listen on {addr} (admin.listen, MCPGATE_ADMIN_LISTEN): {e}")
            }
            Err(e) => {
                tracing::warn!(
                    address = %addr,
                    error = %e,
                    "admin listener not started: its default address is taken (set \
                     MCPGATE_ADMIN_LISTEN to another address, or to off)"
                );
                config.admin.listen = None;
                None
            }
        },
        None => None,
    };
    let listener = match config.transport {
        Transport::Stdio => None,
        Transport::Http => {
            // Bound first, so a default public URL names the port really bound (`:0` asks the
            // system for one).
            let listen = config.http.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (http.listen): {e}"))?;
            config.bound_to(listener.local_addr()?);
            Some(listener)
        }
    };
    let exporter = log.clone();
    let app = App::build(config)
        .await?
        .with_log(log)
        .with_config_source(overrides, resolved);
    reload_on_sighup(&app);
    let admin = AdminServer::start(admin, &app);
    let result = match listener {
        Some(listener) => app.serve_http(listener, shutdown_signal()).await,
        None => app.serve_stdio(shutdown_signal()).await,
    };
    // The admin listener outlives the drain (readiness and metrics stay readable), then stops.
    admin.stop().await;
    exporter.shutdown().await;
    result
}

/// Reload the configuration on every SIGHUP, for as long as the process runs.
fn reload_on_sighup(app: &App) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: reload through the admin listener");
                return;
            }
        };
        let state = app.state().clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("received SIGHUP: reloading the configuration");
                // The outcome is logged by the reload itself.
                let _ = state.reload().await;
            }
        });
    }
}

async fn approve(config: Config, name: &str) -> anyhow::Result<()> {
    let store = store::open(&config.store).await?;
    store.migrate().await?;
    let report = crate::upstream::approve(&config.upstreams, name, Arc::clone(&store) as _).await;
    store.close().await;
    print!("{}", report?);
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = store::open(&config.store).await?;
    let applied = store.migrate().await?;
    println!("{applied} migration(s) applied to {}", store.backend());
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
