//! Rate limits through the real binary: per caller and route with `RateLimit-*` fields and a
//! 429 with `Retry-After`; per IP for anonymous callers (refused credentials count too); per
//! tool as a JSON-RPC error with retry data; one limit shared by two instances through Redis;
//! and the configured policy when Redis cannot be reached (refusing is a 503: our outage).

use serde_json::{Value, json};

use super::{call, config_file, create_note, header, metrics, rpc};
use crate::support::Server;

const TOKEN: &str = "rate-limit-test-token-0123456789";

/// Redis for the shared-limit tests: `MCPGATE_TEST_REDIS_URL` (default the local server).
/// `None` (skip) when it is unreachable, except under `CI=true`, where that is a failure.
pub(crate) async fn redis_url() -> Option<String> {
    let url = std::env::var("MCPGATE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let authority = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    match tokio::net::TcpStream::connect(&authority).await {
        Ok(_) => Some(url),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("Redis at {authority} is required under CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: Redis at {authority} is not reachable ({e})");
            None
        }
    }
}

fn number(response: &reqwest::Response, name: &str) -> u64 {
    header(response, name).parse().expect("a number")
}

#[tokio::test]
async fn callers_over_their_rate_get_429_with_retry_after_and_ratelimit_fields() {
    let server = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_RATE_LIMIT", "3/min"),
    ])
    .await;
    for remaining in [2, 1, 0] {
        let ok = rpc(&server, Some(TOKEN), "tools/list", json!({})).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(number(&ok, "ratelimit-limit"), 3);
        assert_eq!(number(&ok, "ratelimit-remaining"), remaining);
        assert!(number(&ok, "ratelimit-reset") <= 60);
    }
    let limited = rpc(&server, Some(TOKEN), "tools/list", json!({})).await;
    assert_eq!(limited.status(), 429);
    // Ending a session is not counted: a client over its rate may still say goodbye.
    let goodbye = reqwest::Client::new()
        .delete(server.at("/mcp"))
        .bearer_auth(TOKEN)
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .expect("request");
    assert_ne!(goodbye.status(), 429);
    let retry = number(&limited, "retry-after");
    assert!((1..=20).contains(&retry), "retry after {retry}");
    assert_eq!(number(&limited, "ratelimit-remaining"), 0);
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");

    // The REST API is its own route with its own budget, refused as problem details.
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let ok = http
            .get(server.at("/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(ok.status(), 200);
    }
    let limited = http
        .get(server.at("/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(header(&limited, "content-type"), "application/problem+json");
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains(
            "mcpgate_rate_limit_decisions_total{scope=\"route\",backend=\"memory\",outcome=\"limited\"} 2"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_ip_and_refused_credentials_count() {
    let server = Server::start(&[
        ("MCPGATE_RATE_LIMIT_ANONYMOUS", "2/min"),
        ("MCPGATE_RATE_LIMIT_LOOPBACK", "true"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(call(&server, None, "health").await.0, 200);
    }
    assert_eq!(call(&server, None, "health").await.0, 429);
    // Probes are never limited.
    let ready = reqwest::get(server.at("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200);

    let guarded = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_RATE_LIMIT_ANONYMOUS", "2/min"),
        ("MCPGATE_RATE_LIMIT_LOOPBACK", "true"),
    ])
    .await;
    let guess = "guessing-a-token-0123456789";
    assert_eq!(call(&guarded, Some(guess), "health").await.0, 401);
    assert_eq!(call(&guarded, Some(guess), "health").await.0, 401);
    assert_eq!(call(&guarded, Some(guess), "health").await.0, 429);
    // A caller with a good token has its own budget.
    assert_eq!(call(&guarded, Some(TOKEN), "health").await.0, 200);

    // By default a loopback client is not throttled as one anonymous IP.
    let local = Server::start(&[("MCPGATE_RATE_LIMIT_ANONYMOUS", "1/min")]).await;
    for _ in 0..3 {
        assert_eq!(call(&local, None, "health").await.0, 200);
    }
}

#[tokio::test]
async fn tool_limits_answer_a_json_rpc_error_with_retry_data() {
    let (_dir, file) =
        config_file("[[rate_limit.tools]]\ntools = [\"heal*\"]\nrate = \"2/hour\"\n");
    let server = Server::start(&[("MCPGATE_CONFIG", &file)]).await;
    for _ in 0..2 {
        let (status, body) = call(&server, None, "health").await;
        assert_eq!(status, 200);
        assert_eq!(body["result"]["isError"], false, "{body}");
    }
    let (status, body) = call(&server, None, "health").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 1);
    assert_eq!(body["error"]["code"], -32010, "{body}");
    let data = &body["error"]["data"];
    assert_eq!(data["tool"], "health");
    let seconds = data["retryAfterSeconds"].as_u64().expect("seconds");
    assert!((1..=1800).contains(&seconds), "{data}");
    assert!(data["retryAfterMs"].as_u64().expect("ms") <= seconds * 1000);
    let (_, other) = call(&server, None, "server_info").await;
    assert_eq!(other["result"]["isError"], false, "{other}");
}

#[tokio::test]
async fn two_instances_share_one_limit_through_redis() {
    let Some(url) = redis_url().await else {
        return;
    };
    let prefix = format!("mcpgate-test:{}:", uuid::Uuid::new_v4());
    let env = [
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_RATE_LIMIT", "4/hour"),
        ("MCPGATE_REDIS_URL", url.as_str()),
        ("MCPGATE_RATE_LIMIT_PREFIX", prefix.as_str()),
    ];
    let a = Server::start(&env).await;
    let b = Server::start(&env).await;
    for server in [&a, &b, &a, &b] {
        assert_eq!(call(server, Some(TOKEN), "health").await.0, 200);
    }
    for server in [&a, &b] {
        let limited = rpc(server, Some(TOKEN), "tools/list", json!({})).await;
        assert_eq!(limited.status(), 429);
        assert!(number(&limited, "retry-after") >= 1);
    }
    let metrics = metrics(&a).await;
    assert!(
        metrics.contains("backend=\"redis\",outcome=\"allowed\""),
        "{metrics}"
    );
}

/// A `redis://` URL on a loopback port where nothing listens (bound, then closed).
async fn closed_redis_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

/// `GET /api/v1/notes` with the bearer `token`.
async fn list_notes(server: &Server, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.at("/api/v1/notes"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// Redis down is the server's outage: `closed` refuses with 503 and `Retry-After` (no
/// `RateLimit-*` fields: no bucket was read), on the MCP endpoint and the REST API alike;
/// `open` lets the request through. Both are logged and counted as degraded.
#[tokio::test]
async fn an_unreachable_redis_follows_the_failure_policy() {
    let redis = closed_redis_url().await;
    for (policy, outcome) in [("closed", "degraded_refused"), ("open", "degraded_allowed")] {
        let server = Server::start(&[
            ("MCPGATE_AUTH", "token"),
            ("MCPGATE_AUTH_TOKEN", TOKEN),
            ("MCPGATE_RATE_LIMIT", "100/min"),
            ("MCPGATE_RATE_LIMIT_ANONYMOUS", "100/min"),
            ("MCPGATE_RATE_LIMIT_LOOPBACK", "true"),
            ("MCPGATE_REDIS_URL", redis.as_str()),
            ("MCPGATE_RATE_LIMIT_FAILURE", policy),
        ])
        .await;
        let mcp = rpc(&server, Some(TOKEN), "tools/list", json!({})).await;
        let api = list_notes(&server, TOKEN).await;
        if policy == "open" {
            assert_eq!(mcp.status(), 200, "{policy}");
            assert_eq!(api.status(), 200, "{policy}");
        } else {
            for (route, response) in [("/mcp", &mcp), ("/api/v1", &api)] {
                assert_eq!(response.status(), 503, "{route}");
                assert!(number(response, "retry-after") >= 1, "{route}");
                assert!(
                    !response.headers().contains_key("ratelimit-remaining"),
                    "{route}: no bucket was read"
                );
            }
            let body: Value = mcp.json().await.expect("json");
            assert_eq!(body["error"], "rate_limit_unavailable", "{body}");
            // A caller without a credential is not remembered as over a limit it never hit.
            for attempt in 0..2 {
                let anonymous = rpc(&server, None, "tools/list", json!({})).await;
                assert_eq!(anonymous.status(), 503, "anonymous attempt {attempt}");
            }
            let problem: Value = api.json().await.expect("json");
            assert_eq!(problem["status"], 503, "{problem}");
            assert!(
                problem["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("/rate-limit-unavailable")),
                "{problem}"
            );
        }
        let metrics = metrics(&server).await;
        assert!(
            metrics.contains(&format!(
                "mcpgate_rate_limit_decisions_total{{scope=\"route\",backend=\"redis\",outcome=\"{outcome}\"}} 2"
            )),
            "{metrics}"
        );
        let logs = server.logs().join("\n");
        assert!(logs.contains("\"level\":\"WARN\""), "{logs}");
    }
}

/// A per-tool limit that cannot be checked is an outage too: the tool call is a JSON-RPC
/// internal error (not the "over your rate" -32010) and its REST operation a 503.
#[tokio::test]
async fn an_unreachable_redis_under_a_tool_limit_is_an_outage_not_a_rate() {
    let redis = closed_redis_url().await;
    let (_dir, file) = config_file(
        "[[rate_limit.tools]]\ntools = [\"health\", \"list_notes\"]\nrate = \"100/min\"\n",
    );
    let server = Server::start(&[
        ("MCPGATE_AUTH", "token"),
        ("MCPGATE_AUTH_TOKEN", TOKEN),
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_REDIS_URL", redis.as_str()),
        ("MCPGATE_RATE_LIMIT_FAILURE", "closed"),
    ])
    .await;
    let (status, body) = call(&server, Some(TOKEN), "health").await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be checked")),
        "{body}"
    );
    assert!(body["error"]["data"]["retryAfterSeconds"].as_u64() >= Some(1));
    let api = list_notes(&server, TOKEN).await;
    assert_eq!(api.status(), 503);
    assert!(number(&api, "retry-after") >= 1);
}

#[tokio::test]
async fn a_tool_limit_also_holds_for_its_rest_operation_and_disabled_tools_stay_off() {
    let (_dir, file) =
        config_file("[[rate_limit.tools]]\ntools = [\"list_tasks\"]\nrate = \"2/hour\"\n");
    let server = Server::start(&[
        ("MCPGATE_CONFIG", &file),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
        ("MCPGATE_DISABLED_TOOLS", "delete_note"),
    ])
    .await;
    let http = reqwest::Client::new();
    // One budget per caller and tool, whichever door the call comes through.
    let (_, body) = call(&server, None, "list_tasks").await;
    assert!(body["result"].is_object(), "{body}");
    let ok = http
        .get(server.at("/api/v1/tasks"))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    let limited = http
        .get(server.at("/api/v1/tasks"))
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), 429);
    assert!(number(&limited, "retry-after") >= 1);
    assert_eq!(header(&limited, "content-type"), "application/problem+json");
    let (_, body) = call(&server, None, "list_tasks").await;
    assert_eq!(body["error"]["code"], -32010, "{body}");

    let note = create_note(&server, None, "Stays").await;
    let id = note["id"].as_str().expect("id");
    let refused = http
        .delete(server.at(&format!("/api/v1/notes/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("delete_note is disabled")),
        "{problem}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = Server::start(&[
        ("MCPGATE_TRUSTED_PROXIES", "127.0.0.1"),
        ("MCPGATE_RATE_LIMIT_ANONYMOUS", "2/min"),
    ])
    .await;
    let http = reqwest::Client::new();
    let list = |client: &'static str| {
        http.get(server.at("/api/v1/tasks"))
            .header("x-forwarded-for", client)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(list("198.51.100.1").await.expect("request").status(), 200);
    }
    let limited = list("198.51.100.1").await.expect("request");
    assert_eq!(limited.status(), 429);
    assert_eq!(list("198.51.100.2").await.expect("request").status(), 200);
    // A forged entry to the left of the proxy's own does not buy a new budget.
    let forged = list("203.0.113.50, 198.51.100.1").await.expect("request");
    assert_eq!(forged.status(), 429);
}
