//! The status page: one HTML document, styled inline, with no script and no external asset
//! (the admin listener's CSP allows nothing else), so it renders where the network is closed.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;
use crate::telemetry::JournalEntry;
use crate::upstream::UpstreamStatus;

/// `GET /status`.
pub async fn page(State(state): State<AppState>) -> Response {
    let upstreams = state.upstreams.statuses().await;
    let facts = Facts::of(&state);
    let mut response =
        Html(render(&facts, &upstreams, &state.log.journal().recent())).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

/// What the page says about the process.
struct Facts {
    version: &'static str,
    uptime: Duration,
    ready: bool,
    draining: bool,
    transport: String,
    store: &'static str,
    auth: String,
    modules: String,
    rate_limits: &'static str,
    sessions: i64,
    in_flight: i64,
}

impl Facts {
    fn of(state: &AppState) -> Self {
        let config = &state.config;
        Self {
            version: env!("CARGO_PKG_VERSION"),
            uptime: state.started.elapsed(),
            ready: state.lifecycle.is_ready(),
            draining: state.lifecycle.draining().is_cancelled(),
            transport: match &state.proxy {
                Some(_) => format!("http on {} (proxy mode)", config.http.listen),
                None => format!("{:?} on {}", config.transport, config.http.listen).to_lowercase(),
            },
            store: state.store.backend(),
            auth: format!("{:?}", config.auth.mode).to_lowercase(),
            modules: match &state.proxy {
                Some(_) => "none (proxy mode)".to_owned(),
                None => config.modules.enabled.join(", "),
            },
            rate_limits: state.gate.rate_limit_backend().unwrap_or("off"),
            sessions: state.metrics.sessions_live().get(),
            in_flight: state.metrics.http_in_flight().get(),
        }
    }
}

fn render(facts: &Facts, upstreams: &[UpstreamStatus], recent: &[JournalEntry]) -> String {
    let mut html = String::with_capacity(4096);
    html.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>mcpgate status</title><style>\
         body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin-bottom:1.5em}\
         th,td{text-align:left;padding:.25em .8em;border-bottom:1px solid #ddd;vertical-align:top}\
         .ok{color:#17692a}.bad{color:#a31515}code{font-size:13px}\
         </style></head><body><h1>mcpgate</h1>",
    );
    let state = match (facts.ready, facts.draining) {
        (_, true) => "<span class=\"bad\">draining</span>",
        (true, false) => "<span class=\"ok\">ready</span>",
        (false, false) => "<span class=\"bad\">not ready</span>",
    };
    html.push_str("<table id=\"process\">");
    let rows: [(&str, String); 10] = [
        ("version", escape(facts.version)),
        ("state", state.to_owned()),
        (
            "uptime",
            escape(
                &humantime::format_duration(Duration::from_secs(facts.uptime.as_secs()))
                    .to_string(),
            ),
        ),
        ("transport", escape(&facts.transport)),
        ("store", escape(facts.store)),
        ("auth", escape(&facts.auth)),
        ("modules", escape(&facts.modules)),
        ("rate limits", escape(facts.rate_limits)),
        ("legacy sessions", facts.sessions.to_string()),
        ("requests in flight", facts.in_flight.to_string()),
    ];
    for (name, value) in rows {
        let _ = write!(html, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    html.push_str("</table><h2>Upstreams</h2>");
    if upstreams.is_empty() {
        html.push_str("<p id=\"upstreams\">none configured</p>");
    } else {
        html.push_str(
            "<table id=\"upstreams\"><tr><th>name</th><th>state</th><th>protocol</th>\
             <th>tools</th><th>sessions</th><th>breaker</th><th>last error</th></tr>",
        );
        for u in upstreams {
            let class = if matches!(u.state.as_str(), "ready") {
                "ok"
            } else {
                "bad"
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}/{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                escape(&u.name),
                escape(&u.state),
                escape(u.era.as_deref().unwrap_or("-")),
                u.tools,
                u.sessions,
                u.pool_size,
                escape(&u.breaker),
                escape(u.error.as_deref().unwrap_or("")),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("<h2>Recent warnings and errors</h2>");
    if recent.is_empty() {
        html.push_str("<p id=\"recent\">none</p>");
    } else {
        html.push_str(
            "<table id=\"recent\"><tr><th>time</th><th>level</th><th>where</th><th>what</th></tr>",
        );
        for entry in recent {
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"bad\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                humantime::format_rfc3339_seconds(entry.at),
                entry.level,
                escape(&entry.target),
                escape(&entry.text),
            );
        }
        html.push_str("</table>");
    }
    let _ = write!(
        html,
        "<p><small>{} · <a href=\"/metrics\">metrics</a></small></p></body></html>",
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
    html
}

/// Text made safe for HTML element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_text_cannot_inject_markup() {
        let facts = Facts {
            version: "1.0.0",
            uptime: Duration::from_secs(3725),
            ready: true,
            draining: false,
            transport: "http on 127.0.0.1:8080".to_owned(),
            store: "sqlite",
            auth: "token".to_owned(),
            modules: "system, workspace".to_owned(),
            rate_limits: "memory",
            sessions: 2,
            in_flight: 1,
        };
        let recent = [JournalEntry {
            at: SystemTime::UNIX_EPOCH,
            level: "WARN",
            target: "mcpgate::upstream".to_owned(),
            text: "upstream said <script>alert(1)</script> & \"quoted\"".to_owned(),
        }];
        let html = render(&facts, &[], &recent);
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
        assert!(html.contains("1h 2m 5s"));
        assert!(html.contains("<span class=\"ok\">ready</span>"));
    }
}
