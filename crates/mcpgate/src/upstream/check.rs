//! `mcpgate upstreams check`: connect to every configured upstream once and report its era,
//! its tools and the names they are exposed under, or what is wrong. Fails (exit 1) when an
//! upstream marked `required` cannot be inspected. `mcpgate upstreams approve NAME`: accept
//! the current definitions of an upstream's tools as its pins. `mcpgate upstreams login NAME`:
//! authorize an upstream whose OAuth grant is the authorization code, and keep the grant.

use std::fmt::Write as _;

use std::sync::Arc;

use super::source::UpstreamSource;
use super::{UpstreamConfig, UpstreamTransport};
use crate::store::PinStore;
use crate::telemetry::Metrics;

/// The report, and whether every required upstream answered.
pub async fn check(configs: &[UpstreamConfig]) -> (String, bool) {
    let metrics = Metrics::new();
    let inspections = configs.iter().map(|config| {
        let source = UpstreamSource::new(config.clone(), metrics.upstream(&config.name), None);
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
            UpstreamTransport::Http { url, sse: true, .. } => format!("sse: {url}"),
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
                if let Some(credential) = &inspection.credential {
                    let _ = writeln!(out, "  credential: {credential}");
                }
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

/// Pin the current definitions of the allowed tools of the upstream `name` (replacing what was
/// pinned); returns a report of what changed.
pub async fn approve(
    configs: &[UpstreamConfig],
    name: &str,
    pins: Arc<dyn PinStore>,
) -> anyhow::Result<String> {
    let config = configs
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| anyhow::anyhow!("no upstream named {name:?} is configured"))?;
    let source = UpstreamSource::new(config.clone(), Metrics::new().upstream(name), None);
    let (approved, changed) = source.approve(pins.as_ref()).await?;
    let mut out = format!("{name}: {approved} tool definition(s) pinned\n");
    if changed.is_empty() {
        out.push_str("  none had changed\n");
    } else {
        let _ = writeln!(out, "  changed, now approved: {}", changed.join(", "));
    }
    Ok(out)
}

/// Authorize the upstream `name` (an `[upstreams.oauth]` authorization code grant) through a
/// browser, with a loopback redirect, and store the grant sealed; a report.
pub async fn login(configs: &[UpstreamConfig], name: &str) -> anyhow::Result<String> {
    use super::oauth::{Grant, Loopback, OAuth};
    let config = configs
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| anyhow::anyhow!("no upstream named {name:?} is configured"))?;
    let UpstreamTransport::Http {
        url,
        oauth: Some(oauth),
        tls,
        ..
    } = &config.transport
    else {
        anyhow::bail!("{name} has no [upstreams.oauth]: there is nothing to log in to");
    };
    anyhow::ensure!(
        matches!(oauth.grant, Grant::AuthorizationCode),
        "{name}'s OAuth grant needs no login (only grant = \"authorization_code\" does)"
    );
    let store = oauth
        .store
        .clone()
        .filter(super::oauth::GrantStore::can_seal)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "set MCPGATE_SECRET_KEY or MCPGATE_SECRET_KEY_FILE: the grant is only stored sealed"
            )
        })?;
    let agent = Loopback::bind().await?;
    let client = OAuth::new(
        name,
        url,
        (**oauth).clone(),
        super::tls::http_client(tls.as_ref()),
    )?
    .with_agent(Arc::new(agent));
    let granted = client.login().await?;
    anyhow::ensure!(
        store.load(name)?.is_some(),
        "{name}: the authorization server gave no refresh token, so the grant cannot be kept \
         (ask for the offline_access scope if the server needs it)"
    );
    Ok(format!(
        "{name}: authorized{}{}; the grant is stored sealed in {}\n",
        granted
            .scope
            .map(|s| format!(" (scopes: {s})"))
            .unwrap_or_default(),
        if granted.dpop {
            ", tokens bound to mcpgate's DPoP key (kept with the grant)"
        } else {
            ""
        },
        store.path(name).display()
    ))
}
