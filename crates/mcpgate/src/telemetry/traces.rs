//! OpenTelemetry traces: the process's `tracing` spans exported over OTLP (HTTP/protobuf or
//! gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set, and W3C trace
//! context (`traceparent`, `tracestate`) taken from HTTP headers and `params._meta`, and passed
//! on to upstreams.
//!
//! The span tree of a tool call: `http` (one per HTTP request: request id, route) →
//! `mcp.request` (method, subject, org) → `tool` (its name) → `store.query` (each query) or
//! `upstream.call` (each call to an upstream, whose own spans continue the trace). Only the
//! `http` span is logged; the others are debug spans that exist only while an exporter is on,
//! so without one they cost a disabled-callsite check.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Trace export settings, from the standard `OTEL_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceConfig {
    /// Where spans go: the collector's base URL (`/v1/traces` is added for HTTP), or the full
    /// traces URL from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. `None`: no export.
    pub endpoint: Option<OtlpEndpoint>,
    /// `http/protobuf` (default) or `grpc`. Env `OTEL_EXPORTER_OTLP_PROTOCOL` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`).
    pub protocol: OtlpProtocol,
    /// `service.name`. Default `mcpgate`. Env `OTEL_SERVICE_NAME`.
    pub service_name: String,
    /// Which traces are kept. Default `parentbased_always_on`. Env `OTEL_TRACES_SAMPLER` and
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub sampler: SamplerSetting,
}

/// The collector's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtlpEndpoint {
    /// A base URL: `/v1/traces` is added for HTTP.
    Base(String),
    /// The traces URL itself.
    Traces(String),
}

/// OTLP's transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP POST.
    HttpProtobuf,
    /// gRPC (plain HTTP/2; use `http/protobuf` for a TLS endpoint).
    Grpc,
}

/// The standard samplers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// This share of the traces (0..=1), by trace id.
    Ratio(f64),
    /// The caller's decision when it sent one, else the inner sampler.
    ParentBased(ParentFallback),
}

/// A parent-based sampler's choice for traces that start here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentFallback {
    /// Every trace.
    AlwaysOn,
    /// None.
    AlwaysOff,
    /// This share of them.
    Ratio(f64),
}

impl SamplerSetting {
    /// Parse `OTEL_TRACES_SAMPLER` with its `OTEL_TRACES_SAMPLER_ARG`.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Self, String> {
        let ratio = || -> Result<f64, String> {
            match arg {
                None => Ok(1.0),
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(format!(
                        "OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, found {text:?}"
                    )),
                },
            }
        };
        Ok(match name.trim() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::Ratio(ratio()?),
            "parentbased_always_on" => Self::ParentBased(ParentFallback::AlwaysOn),
            "parentbased_always_off" => Self::ParentBased(ParentFallback::AlwaysOff),
            "parentbased_traceidratio" => Self::ParentBased(ParentFallback::Ratio(ratio()?)),
            other => {
                return Err(format!(
                    "expected always_on, always_off, traceidratio, parentbased_always_on, \
                     parentbased_always_off or parentbased_traceidratio, found {other:?}"
                ));
            }
        })
    }

    fn sampler(self) -> Sampler {
        let inner = |fallback| match fallback {
            ParentFallback::AlwaysOn => Sampler::AlwaysOn,
            ParentFallback::AlwaysOff => Sampler::AlwaysOff,
            ParentFallback::Ratio(r) => Sampler::TraceIdRatioBased(r),
        };
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::Ratio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBased(fallback) => Sampler::ParentBased(Box::new(inner(fallback))),
        }
    }
}

/// The tracer provider for `config`, when it asks for export. Must be called inside the Tokio
/// runtime: the batch exporter runs on it.
pub(super) fn provider(config: &TraceConfig) -> Result<Option<SdkTracerProvider>, String> {
    let Some(endpoint) = &config.endpoint else {
        return Ok(None);
    };
    let exporter = match config.protocol {
        OtlpProtocol::HttpProtobuf => {
            let url = match endpoint {
                OtlpEndpoint::Base(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
                OtlpEndpoint::Traces(url) => url.clone(),
            };
            SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url)
                .build()
        }
        OtlpProtocol::Grpc => {
            let (OtlpEndpoint::Base(url) | OtlpEndpoint::Traces(url)) = endpoint;
            SpanExporter::builder()
                .with_tonic()
                .with_endpoint(url.clone())
                .build()
        }
    }
    .map_err(|e| e.to_string())?;
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(config.sampler.sampler())
            .with_resource(resource)
            .build(),
    ))
}

/// The `tracing` layer that turns mcpgate's spans into OpenTelemetry spans of `provider`.
pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use tracing_subscriber::Layer as _;
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("mcpgate"))
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target().starts_with("mcpgate")
        }))
}

/// Make `span` a child of the trace context in `carrier` (`traceparent`, `tracestate`), when
/// it holds a valid one. A no-op unless spans are exported.
pub fn continue_trace(span: &tracing::Span, carrier: &dyn Fn(&str) -> Option<String>) {
    let Some(traceparent) = carrier("traceparent") else {
        return;
    };
    let mut fields = HashMap::new();
    fields.insert("traceparent".to_owned(), traceparent);
    if let Some(tracestate) = carrier("tracestate") {
        fields.insert("tracestate".to_owned(), tracestate);
    }
    let context = TraceContextPropagator::new().extract(&Fields(&mut fields));
    use opentelemetry::trace::TraceContextExt as _;
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// The current span's trace context as `traceparent` (and `tracestate`), to pass on; `None`
/// when spans are not exported (or the current span is not sampled in).
pub fn current_trace_context() -> Option<(String, Option<String>)> {
    let context = tracing::Span::current().context();
    use opentelemetry::trace::TraceContextExt as _;
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut Fields(&mut fields));
    let traceparent = fields.remove("traceparent")?;
    Some((
        traceparent,
        fields.remove("tracestate").filter(|s| !s.is_empty()),
    ))
}

/// A text map over a `HashMap`, for the propagator.
struct Fields<'a>(&'a mut HashMap<String, String>);

impl Extractor for Fields<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

impl Injector for Fields<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_parse_as_the_specification_names_them() {
        assert_eq!(
            SamplerSetting::parse("always_on", None),
            Ok(SamplerSetting::AlwaysOn)
        );
        assert_eq!(
            SamplerSetting::parse("parentbased_traceidratio", Some("0.25")),
            Ok(SamplerSetting::ParentBased(ParentFallback::Ratio(0.25)))
        );
        assert_eq!(
            SamplerSetting::parse("traceidratio", None),
            Ok(SamplerSetting::Ratio(1.0))
        );
        assert!(SamplerSetting::parse("traceidratio", Some("1.5")).is_err());
        assert!(SamplerSetting::parse("sometimes", None).is_err());
    }
}
