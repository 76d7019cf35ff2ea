//! `mcpgate upstreams check`: connect to every configured upstream once and report its era,
//! its tools and the names they are exposed under, or what is wrong. Fails (exit 1) when an
//! upstream marked `required` cannot be inspected.

use std::fmt::Write as _;

use super::source::UpstreamSource;
use super::{UpstreamConfig, UpstreamTransport};
use crate::telemetry::Metrics;

/// The report, and whether every required upstream answered.
pub async fn check(configs: &[UpstreamConfig]) -> (String, bool) {
    let metrics = Metrics::new();
    let inspections = configs.iter().map(|config| {
        let source = UpstreamSource::new(config.clone(), metrics.upstream(&config.name));
        async move { source.inspect().await }
    });
    let results = futures::future::join_all(inspections).await;
    let mut out = String::new();
    let mut ok = true;
    if configs.is_empty() {
        out.push_str("no upstreams are configured\n");
    }
    for (config, result) in configs.iter().zip(results) {
        let transport = match &config.transport {
            UpstreamTransport::Stdio { command, .. } => format!("stdio: {command}"),
            UpstreamTransport::Http { url, .. } => format!("http: {url}"),
        };
        let required = if config.required { ", required" } else { "" };
        match result {
            Ok(inspection) => {
                let _ = writeln!(
                    out,
                    "{} ({transport}{required}): ok, protocol {}",
                    config.name,
                    inspection.era.as_deref().unwrap_or("unknown")
                );
                let _ = writeln!(
                    out,
                    "  {} of {} tools exposed",
                    inspection.exposed.len(),
                    inspection.listed.len()
                );
                for (upstream, exposed) in &inspection.exposed {
                    let _ = writeln!(out, "    {upstream} -> {exposed}");
                }
                let hidden: Vec<&str> = inspection
                    .listed
                    .iter()
                    .filter(|n| !inspection.exposed.iter().any(|(u, _)| u == *n))
                    .map(String::as_str)
                    .collect();
                if !hidden.is_empty() {
                    let _ = writeln!(out, "  not exposed: {}", hidden.join(", "));
                }
            }
            Err(e) => {
                ok &= !config.required;
                let _ = writeln!(
                    out,
                    "{} ({transport}{required}): FAILED: {e:#}",
                    config.name
                );
            }
        }
    }
    (out, ok)
}
