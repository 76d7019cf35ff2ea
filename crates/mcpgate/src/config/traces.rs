//! Resolution of span export ([`TraceConfig`]) from the standard OpenTelemetry variables (or
//! `[telemetry]` in the file): off unless an OTLP endpoint is set.

use super::Layers;
use crate::telemetry::{OtlpEndpoint, OtlpProtocol, ParentFallback, SamplerSetting, TraceConfig};

pub(super) fn resolve_traces(l: &mut Layers<'_>) -> TraceConfig {
    let disabled: bool = l.get_or("telemetry.sdk_disabled", "OTEL_SDK_DISABLED", false);
    let traces_url: Option<String> = l.get(
        "telemetry.otlp_traces_endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    );
    let base: Option<String> = l.get("telemetry.otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT");
    let endpoint = match (traces_url, base) {
        (Some(url), _) => Some(OtlpEndpoint::Traces(url)),
        (None, Some(base)) => Some(OtlpEndpoint::Base(base)),
        (None, None) => None,
    }
    .filter(|_| !disabled);
    if let Some(OtlpEndpoint::Traces(url) | OtlpEndpoint::Base(url)) = &endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        l.issue(
            "telemetry.otlp_endpoint",
            Some("OTEL_EXPORTER_OTLP_ENDPOINT"),
            format!("expected an http:// or https:// URL, found {url:?}"),
        );
    }
    let protocol_text: Option<String> = l
        .get(
            "telemetry.otlp_traces_protocol",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        )
        .or_else(|| l.get("telemetry.otlp_protocol", "OTEL_EXPORTER_OTLP_PROTOCOL"));
    let protocol = match protocol_text.as_deref().map(str::trim) {
        None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
        Some("grpc") => OtlpProtocol::Grpc,
        Some(other) => {
            l.issue(
                "telemetry.otlp_protocol",
                Some("OTEL_EXPORTER_OTLP_PROTOCOL"),
                format!(
                    "expected http/protobuf or grpc, found {other:?} (http/json is not supported)"
                ),
            );
            OtlpProtocol::HttpProtobuf
        }
    };
    let sampler_name: Option<String> = l.get("telemetry.traces_sampler", "OTEL_TRACES_SAMPLER");
    let sampler_arg: Option<String> =
        l.get("telemetry.traces_sampler_arg", "OTEL_TRACES_SAMPLER_ARG");
    let sampler = match sampler_name {
        None => SamplerSetting::ParentBased(ParentFallback::AlwaysOn),
        Some(name) => SamplerSetting::parse(&name, sampler_arg.as_deref()).unwrap_or_else(|e| {
            l.issue("telemetry.traces_sampler", Some("OTEL_TRACES_SAMPLER"), e);
            SamplerSetting::ParentBased(ParentFallback::AlwaysOn)
        }),
    };
    TraceConfig {
        endpoint,
        protocol,
        service_name: l.get_or(
            "telemetry.service_name",
            "OTEL_SERVICE_NAME",
            "mcpgate".to_owned(),
        ),
        sampler,
    }
}
