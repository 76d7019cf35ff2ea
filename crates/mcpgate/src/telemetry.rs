//! Telemetry: logging to stderr (JSON or text), the journal of recent warnings and errors, and
//! the Prometheus metrics registry.
//!
//! Metrics live in one [`Metrics`] value owned by the app (no global recorder), so two apps in
//! one process — or a host application that embeds mcpgate — keep separate registries.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

mod journal;
mod traces;
mod upstream;

pub use journal::{Journal, JournalEntry};
pub use traces::{
    OtlpEndpoint, OtlpProtocol, ParentFallback, SamplerSetting, TraceConfig, continue_trace,
    current_trace_context,
};
pub use upstream::UpstreamMetrics;

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `tracing` filter directives. Default `info`. Env `MCPGATE_LOG`.
    pub filter: String,
    /// Line format. Default `json`. Env `MCPGATE_LOG_FORMAT`.
    pub format: LogFormat,
}

/// Log line format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Install the process-wide `tracing` subscriber: log lines go to stderr (so stdout stays free
/// for the stdio transport) through the reloadable filter, warnings and errors also to the
/// returned handle's [`Journal`] (the admin status page), and, when `traces` names a
/// collector, spans to it over OTLP. Called by the binary inside its Tokio runtime (the span
/// exporter runs on it), never by the library: a host application keeps its own subscriber.
pub fn init_logging(config: &LogConfig, traces: Option<&TraceConfig>) -> LogHandle {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = tracing_subscriber::EnvFilter::try_new(&config.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (filter, reload) = tracing_subscriber::reload::Layer::new(filter);
    let (tracer, tracer_problem) = match traces.map(traces::provider).transpose() {
        Ok(tracer) => (tracer.flatten(), None),
        Err(e) => (None, Some(e)),
    };
    let journal = Journal::default();
    // Per-layer filters cost every span entry and exit (measured: ~6% of a request's
    // instructions), so they are used only when spans are exported, where the debug spans
    // must reach the exporter and not the log. Otherwise one filter serves every layer (the
    // journal keeps only warnings and errors itself).
    let installed = match &tracer {
        None => tracing_subscriber::registry()
            .with(filter)
            .with(fmt_layer(config.format))
            .with(journal.layer())
            .try_init(),
        Some(tracer) => tracing_subscriber::registry()
            .with(fmt_layer(config.format).with_filter(filter))
            .with(
                journal
                    .layer()
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            )
            .with(traces::layer(tracer))
            .try_init(),
    };
    // A host application may have installed its own subscriber already; keep it.
    if installed.is_err() {
        return LogHandle::default();
    }
    if let Some(problem) = tracer_problem {
        tracing::error!(
            error = problem,
            "span export is off: the OTLP exporter cannot start"
        );
    }
    LogHandle {
        journal,
        filter: Some(Arc::new(move |directives: &str| {
            let filter =
                tracing_subscriber::EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
            reload.reload(filter).map_err(|e| e.to_string())
        })),
        tracer,
    }
}

/// The stderr log layer in `format`.
fn fmt_layer<S>(format: LogFormat) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Json => Box::new(
            fmt.json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true),
        ),
        LogFormat::Text => Box::new(fmt.with_ansi(false)),
    }
}

/// Changes the log filter in place (`Err` explains a filter that did not parse).
type FilterSetter = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// The running process's logging, as the app sees it: the recent warnings and errors, and the
/// filter to change on reload. The default is detached (an embedded app, tests): an empty
/// journal and a filter that cannot change.
#[derive(Clone, Default)]
pub struct LogHandle {
    journal: Journal,
    filter: Option<Arc<FilterSetter>>,
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle")
            .field("reloadable", &self.filter.is_some())
            .field("traces", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl LogHandle {
    /// The recent warnings and errors.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Send the spans not exported yet, and stop exporting (at exit).
    pub async fn shutdown(&self) {
        if let Some(tracer) = self.tracer.clone() {
            let flushed = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "spans could not all be exported at exit");
            }
        }
    }

    /// Apply new filter directives: `Ok(false)` when this process's subscriber is not ours.
    pub fn set_filter(&self, directives: &str) -> Result<bool, String> {
        match &self.filter {
            Some(set) => set(directives).map(|()| true),
            None => Ok(false),
        }
    }
}

// Labels on the hot path are `&'static str` or shared `Arc`s, so counting a request does not
// allocate.

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: Arc<String>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    scope: &'static str,
    backend: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolNameLabels {
    tool: Arc<String>,
}

fn latency_histogram() -> Histogram {
    // 100µs .. ~26s, doubling: covers a cached read and a slow upstream alike.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 19,
    ))
}

/// How a tool call ended, for the `outcome` label. The discriminants index [`ToolOutcome::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolOutcome {
    /// A normal result.
    Ok,
    /// A result with `isError: true`.
    ToolError,
    /// A JSON-RPC error (unknown tool, bad request, internal failure).
    ProtocolError,
    /// Arguments did not match the input schema.
    InvalidArguments,
}

impl ToolOutcome {
    const ALL: [Self; 4] = [
        Self::Ok,
        Self::ToolError,
        Self::ProtocolError,
        Self::InvalidArguments,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::ProtocolError => "protocol_error",
            Self::InvalidArguments => "invalid_arguments",
        }
    }
}

struct Families {
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    http_in_flight: Gauge,
    sessions_live: Gauge,
    mcp_requests: Family<MethodLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    tool_duration: Family<ToolNameLabels, Histogram, fn() -> Histogram>,
    rate_limit: Family<LimitLabels, Counter>,
    auth_refusals: Family<AuthLabels, Counter>,
    upstream: upstream::UpstreamFamilies,
}

/// The app's metrics and the registry that renders them.
#[derive(Clone)]
pub struct Metrics {
    families: Arc<Families>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every mcpgate metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcpgate");
        let upstream = upstream::UpstreamFamilies::register(&mut registry);
        let families = Families {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            http_in_flight: Gauge::default(),
            sessions_live: Gauge::default(),
            mcp_requests: Family::default(),
            tool_calls: Family::default(),
            tool_duration: Family::new_with_constructor(latency_histogram),
            rate_limit: Family::default(),
            auth_refusals: Family::default(),
            upstream,
        };
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            families.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route (to response headers)",
            families.http_duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served",
            families.http_in_flight.clone(),
        );
        registry.register(
            "legacy_sessions",
            "Live legacy MCP sessions (and places reserved by initialize requests)",
            families.sessions_live.clone(),
        );
        registry.register(
            "mcp_requests",
            "MCP requests by JSON-RPC method",
            families.mcp_requests.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome",
            families.tool_calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Tool call latency by tool",
            families.tool_duration.clone(),
        );
        registry.register(
            "rate_limit_decisions",
            "Rate-limit decisions by scope (route, anonymous, tool), backend and outcome \
             (allowed, limited, degraded_allowed, degraded_refused)",
            families.rate_limit.clone(),
        );
        registry.register(
            "auth_refusals",
            "Requests refused by authentication or authorization, by reason",
            families.auth_refusals.clone(),
        );
        Self {
            families: Arc::new(families),
            registry: Arc::new(registry),
        }
    }

    /// Count one answered HTTP request. `route` is one of a fixed set of names.
    pub fn http_request(
        &self,
        route: &'static str,
        method: &http::Method,
        status: u16,
        elapsed: Duration,
    ) {
        let method = match *method {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::DELETE => "DELETE",
            http::Method::OPTIONS => "OPTIONS",
            http::Method::HEAD => "HEAD",
            http::Method::PUT => "PUT",
            http::Method::PATCH => "PATCH",
            _ => "other",
        };
        self.families
            .http_requests
            .get_or_create(&HttpLabels {
                route,
                method,
                status,
            })
            .inc();
        self.families
            .http_duration
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// The counter of one kind of rate-limit decision, made once and kept by the caller so a
    /// decision does not look labels up.
    pub fn rate_limit_counter(
        &self,
        scope: &'static str,
        backend: &'static str,
        outcome: &'static str,
    ) -> Counter {
        self.families
            .rate_limit
            .get_or_create(&LimitLabels {
                scope,
                backend,
                outcome,
            })
            .clone()
    }

    /// Count one refused credential or permission (`reason` from a fixed set).
    pub fn auth_refusal(&self, reason: &'static str) {
        self.families
            .auth_refusals
            .get_or_create(&AuthLabels { reason })
            .inc();
    }

    /// The in-flight HTTP request gauge.
    pub fn http_in_flight(&self) -> &Gauge {
        &self.families.http_in_flight
    }

    /// The live legacy session gauge.
    pub fn sessions_live(&self) -> &Gauge {
        &self.families.sessions_live
    }

    /// Count one MCP request by method.
    pub fn mcp_request(&self, method: &'static str) {
        self.families
            .mcp_requests
            .get_or_create(&MethodLabels { method })
            .inc();
    }

    /// The counters and histogram of one tool, created once and kept by the caller.
    pub fn tool(&self, name: &str) -> ToolMetrics {
        let tool = Arc::new(name.to_owned());
        let calls = ToolOutcome::ALL.map(|outcome| {
            self.families
                .tool_calls
                .get_or_create(&ToolLabels {
                    tool: Arc::clone(&tool),
                    outcome: outcome.label(),
                })
                .clone()
        });
        let duration = self
            .families
            .tool_duration
            .get_or_create(&ToolNameLabels { tool })
            .clone();
        ToolMetrics { calls, duration }
    }

    /// The metrics of the upstream `name`.
    pub fn upstream(&self, name: &str) -> UpstreamMetrics {
        self.families.upstream.of(name)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One tool's call counters (by outcome) and latency histogram.
#[derive(Clone, Debug)]
pub struct ToolMetrics {
    calls: [Counter; 4],
    duration: Histogram,
}

impl ToolMetrics {
    /// Count one call.
    pub fn record(&self, outcome: ToolOutcome, elapsed: Duration) {
        let index = ToolOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.calls[index].inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

/// An error and its sources, joined with `: ` (the cause that says what went wrong — a
/// refused connection, a bad certificate — is often only in a source).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
