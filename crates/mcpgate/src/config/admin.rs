//! Resolution of the admin listener's settings ([`AdminConfig`]): where `/metrics`, the probes,
//! the status page and reload are served, and the token they require.

use std::net::SocketAddr;

use super::{AdminConfig, HttpConfig, Layers, MIN_TOKEN_LEN, Secret, Transport};

/// The admin listener by default: loopback only, so a scraper or an operator on the host (or a
/// sidecar in the pod) reaches it and nobody else does.
const DEFAULT_ADMIN_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 9090);

pub(super) fn resolve_admin(
    l: &mut Layers<'_>,
    transport: Transport,
    http: &HttpConfig,
) -> AdminConfig {
    // A stdio server is one per client (a desktop app may start several): none listens unless
    // told to.
    let default_listen = match transport {
        Transport::Http => Some(SocketAddr::from(DEFAULT_ADMIN_LISTEN)),
        Transport::Stdio => None,
    };
    let configured: Option<String> = l.get("admin.listen", "MCPGATE_ADMIN_LISTEN");
    let listen_configured = configured.is_some();
    let listen = match configured {
        None => default_listen,
        Some(text) if text.trim() == "off" => None,
        Some(text) => match text.trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                l.issue(
                    "admin.listen",
                    Some("MCPGATE_ADMIN_LISTEN"),
                    format!("expected an address such as 127.0.0.1:9090, or off; found {text:?}"),
                );
                None
            }
        },
    };
    if let Some(addr) = listen
        && addr.port() != 0
        && transport == Transport::Http
        && addr == http.listen
    {
        l.issue(
            "admin.listen",
            Some("MCPGATE_ADMIN_LISTEN"),
            format!("the admin listener needs its own address; {addr} is http.listen's"),
        );
    }
    let metrics_token: Option<String> = l.get("admin.metrics_token", "MCPGATE_METRICS_TOKEN");
    if let Some(token) = &metrics_token
        && (token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace))
    {
        l.issue(
            "admin.metrics_token",
            Some("MCPGATE_METRICS_TOKEN"),
            format!("the token must be at least {MIN_TOKEN_LEN} characters without spaces"),
        );
    }
    AdminConfig {
        listen,
        listen_configured,
        metrics_token: metrics_token.map(Secret),
        public_metrics: l.get_or(
            "admin.public_metrics",
            "MCPGATE_PUBLIC_METRICS",
            http.listen.ip().is_loopback(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::env;
    use crate::config::{ConfigError, Overrides, resolve};

    fn issues(vars: &[(&str, &str)]) -> String {
        match resolve(&env(vars), &Overrides::default()) {
            Err(ConfigError::Invalid(issues)) => format!("{issues:?}"),
            other => panic!("expected invalid, found {other:?}"),
        }
    }

    #[test]
    fn http_servers_have_a_loopback_admin_listener_and_stdio_ones_none() {
        let c = resolve(&env(&[]), &Overrides::default()).expect("valid");
        assert_eq!(
            c.admin.listen.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        assert!(!c.admin.listen_configured && c.admin.public_metrics);
        let c = resolve(
            &env(&[("MCPGATE_TRANSPORT", "stdio")]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(c.admin.listen, None);
        let c = resolve(
            &env(&[
                ("MCPGATE_TRANSPORT", "stdio"),
                ("MCPGATE_ADMIN_LISTEN", "127.0.0.1:9191"),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert!(c.admin.listen.is_some() && c.admin.listen_configured);
        let c = resolve(
            &env(&[("MCPGATE_ADMIN_LISTEN", " off ")]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(c.admin.listen, None);
    }

    #[test]
    fn metrics_leave_a_public_listener_unless_asked() {
        let public = [
            ("MCPGATE_LISTEN", "0.0.0.0:8080"),
            ("MCPGATE_AUTH", "token"),
            ("MCPGATE_AUTH_TOKEN", "0123456789abcdef0123"),
        ];
        let c = resolve(&env(&public), &Overrides::default()).expect("valid");
        assert!(!c.admin.public_metrics);
        let mut asked = public.to_vec();
        asked.push(("MCPGATE_PUBLIC_METRICS", "true"));
        let c = resolve(&env(&asked), &Overrides::default()).expect("valid");
        assert!(c.admin.public_metrics);
    }

    #[test]
    fn bad_admin_settings_are_reported_together() {
        let found = issues(&[
            ("MCPGATE_ADMIN_LISTEN", "localhost"),
            ("MCPGATE_METRICS_TOKEN", "short token"),
        ]);
        assert!(
            found.contains("MCPGATE_ADMIN_LISTEN") && found.contains("MCPGATE_METRICS_TOKEN"),
            "{found}"
        );
        let found = issues(&[
            ("MCPGATE_LISTEN", "127.0.0.1:9999"),
            ("MCPGATE_ADMIN_LISTEN", "127.0.0.1:9999"),
        ]);
        assert!(found.contains("its own address"), "{found}");
    }
}
