//! The commands that talk to a running server: `mcpgate health` probes its `/healthz` (or
//! `/readyz`) and exits 0 when it answers 200 — made for container `HEALTHCHECK`s and process
//! supervisors, so the image needs no curl; `mcpgate reload` asks its admin listener to read
//! the configuration again.
//!
//! The URL comes from the same configuration `serve` reads: the public listener (a wildcard
//! address is probed on loopback), with an allowed `Host` so the edge's Host check admits it.
//! A TLS listener is probed over TLS without checking its certificate: the probe runs beside
//! the process, sends nothing secret, and only asks whether it answers. A `--url` given on the
//! command line is checked like any other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::config::Config;

/// Probe and report; `Ok(false)` when the server answered but not 200.
pub async fn health(
    config: &Config,
    url: Option<&str>,
    ready: bool,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let path = if ready { "/readyz" } else { "/healthz" };
    let url_arg = url;
    let (url, host) = match url {
        Some(url) => (url.to_owned(), None),
        None => {
            let addr = probe_address(config.http.listen);
            let scheme = if config.http.tls.is_some() {
                "https"
            } else {
                "http"
            };
            (
                format!("{scheme}://{addr}{path}"),
                allowed_host(config, addr),
            )
        }
    };
    // Certificates go unchecked only for this process's own listener, probed on loopback.
    let own_listener = url_arg.is_none();
    let mut request = client(timeout, own_listener)?.get(&url);
    if let Some(host) = host {
        request = request.header(reqwest::header::HOST, host);
    }
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", crate::telemetry::error_chain(&e)))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    println!("{url}: {status} {}", body.trim());
    Ok(status == reqwest::StatusCode::OK)
}

/// `POST /reload` on the admin listener, with the metrics token when one is set; `Ok(false)`
/// when the server refused the new configuration.
pub async fn reload(config: &Config, timeout: Duration) -> anyhow::Result<bool> {
    let Some(admin) = config.admin.listen else {
        anyhow::bail!(
            "no admin listener is configured (admin.listen, MCPGATE_ADMIN_LISTEN): send the \
             server SIGHUP instead"
        );
    };
    let url = format!("http://{}/reload", probe_address(admin));
    let mut request = client(timeout, false)?.post(&url);
    if let Some(token) = &config.admin.metrics_token {
        request = request.bearer_auth(&token.0);
    }
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {}", crate::telemetry::error_chain(&e)))?;
    let status = response.status();
    println!("{}", response.text().await.unwrap_or_default().trim());
    Ok(status == reqwest::StatusCode::OK)
}

/// The client both commands use: no proxy, no redirects; `own_listener`: this process's
/// listener on loopback, whose certificate is not checked (see the module documentation).
fn client(timeout: Duration, own_listener: bool) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_danger_accept_invalid_certs(own_listener)
        .build()?)
}

/// The address to connect to for a listener: a wildcard is reached on loopback.
fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// A `Host` the edge admits: the address itself when the allowlist has it (or any host), else
/// the first allowed name, with the port.
fn allowed_host(config: &Config, addr: SocketAddr) -> Option<String> {
    let policy = crate::edge::OriginPolicy::new(&config.http.allowed_hosts, &[]);
    let own = addr.to_string();
    if policy.host_allowed(&own) {
        return None;
    }
    config
        .http
        .allowed_hosts
        .iter()
        .find(|h| !h.contains(':') || h.starts_with('['))
        .map(|h| format!("{h}:{}", addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_probed_on_loopback() {
        assert_eq!(
            probe_address("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address("[::]:8080".parse().unwrap()),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address("10.1.2.3:8080".parse().unwrap()),
            "10.1.2.3:8080".parse().unwrap()
        );
    }
}
