//! Span export: one tool call's spans reach a real OTLP receiver (built here on the OTLP
//! protobuf definitions), over HTTP/protobuf and over gRPC, as one tree under the caller's
//! `traceparent`, from the HTTP header or from `params._meta`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::json;

use crate::support::{Server, messages, modern_meta, modern_request};

/// One received span.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keep the spans of an export request in `sink`.
fn collect(request: &ExportTraceServiceRequest, sink: &Mutex<Vec<Received>>) {
    let mut sink = sink.lock().expect("lock");
    for span in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        let attributes = span
            .attributes
            .iter()
            .map(|kv| {
                let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
                let text = match value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), text)
            })
            .collect();
        sink.push(Received {
            name: span.name.clone(),
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: hex(&span.parent_span_id),
            attributes,
        });
    }
}

/// An OTLP/HTTP receiver on 127.0.0.1: its base URL and what it received.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                collect(&request, &sink);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, spans)
}

/// The gRPC path of the OTLP trace service's one method.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// An OTLP/gRPC receiver on 127.0.0.1 (HTTP/2 without TLS, as gRPC runs there): its URL and
/// what it received. gRPC by hand: each message is framed as a compression flag, a 4-byte
/// length and the protobuf bytes; the answer is an empty `ExportTraceServiceResponse` with
/// `grpc-status: 0` in the trailers.
async fn grpc_receiver() -> (String, Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<String>>>) {
    use http_body_util::BodyExt as _;
    use hyper::body::Frame;

    let spans = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let (sink, log) = (Arc::clone(&spans), Arc::clone(&seen));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (sink, log) = (Arc::clone(&sink), Arc::clone(&log));
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let (sink, log) = (Arc::clone(&sink), Arc::clone(&log));
                    async move {
                        log.lock().expect("lock").push(format!(
                            "{:?} {} {}",
                            request.version(),
                            request.uri().path(),
                            request
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                        ));
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .expect("a body")
                            .to_bytes();
                        assert!(
                            body.len() >= 5 && body[0] == 0,
                            "an uncompressed gRPC message"
                        );
                        let length =
                            u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
                        let message = ExportTraceServiceRequest::decode(&body[5..5 + length])
                            .expect("an OTLP request");
                        collect(&message, &sink);
                        let mut trailers = hyper::HeaderMap::new();
                        trailers
                            .insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
                        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                            Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = http_body_util::StreamBody::new(futures::stream::iter(frames));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(body)
                                .expect("a response"),
                        )
                    }
                },
            );
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    (url, spans, seen)
}

/// A modern `tools/call` of `tool` with `arguments`, in the caller's trace `(trace id, parent
/// span id)` sent as a `traceparent` header when given; the JSON-RPC answer.
async fn call_in_trace(
    server: &Server,
    tool: &str,
    arguments: serde_json::Value,
    meta: serde_json::Value,
    header: Option<(&str, &str)>,
) -> serde_json::Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta}});
    let mut request =
        modern_request(server, "tools/call", Some(tool)).header("x-request-id", "trace-test-1");
    if let Some((trace, parent)) = header {
        request = request.header("traceparent", format!("00-{trace}-{parent}-01"));
    }
    let response = request
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    messages(&response.text().await.expect("body")).remove(0)
}

/// The received spans of trace `id`.
fn trace_of(spans: &Mutex<Vec<Received>>, id: &str) -> Vec<Received> {
    spans
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.trace_id == id)
        .cloned()
        .collect()
}

/// The spans of one tool call in `trace`, checked to form one chain under the caller's span
/// `parent`: `http` → `mcp.request` → `tool` → `store.query`.
fn tool_call_chain<'a>(trace: &'a [Received], parent: &str) -> [&'a Received; 4] {
    let http = one(trace, "http");
    assert_eq!(
        http.parent_span_id, parent,
        "the HTTP span continues the caller's span"
    );
    let mcp = one(trace, "mcp.request");
    assert_eq!(mcp.parent_span_id, http.span_id);
    let tool = one(trace, "tool");
    assert_eq!(tool.parent_span_id, mcp.span_id);
    let store = one(trace, "store.query");
    assert_eq!(store.parent_span_id, tool.span_id);
    [http, mcp, tool, store]
}

/// The one span named `name` in `trace`.
fn one<'a>(trace: &'a [Received], name: &str) -> &'a Received {
    let found: Vec<_> = trace.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} span in {trace:#?}");
    found[0]
}

#[tokio::test]
async fn a_tool_calls_spans_arrive_as_one_tree_under_the_callers_traceparent() {
    let (url, spans) = receiver().await;
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_SERVICE_NAME", "mcpgate-under-test"),
    ])
    .await;

    // 1. The caller's context in the HTTP header.
    let (trace_a, parent_a) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let answer = call_in_trace(
        &server,
        "list_notes",
        json!({}),
        modern_meta(),
        Some((trace_a, parent_a)),
    )
    .await;
    assert!(answer["result"].is_object(), "{answer}");

    // 2. The caller's context in `params._meta` only.
    let (trace_b, parent_b) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let mut meta = modern_meta();
    meta["traceparent"] = json!(format!("00-{trace_b}-{parent_b}-01"));
    let answer = call_in_trace(&server, "search", json!({"query": "anything"}), meta, None).await;
    assert!(answer["result"].is_object(), "{answer}");

    // The exporter sends what it holds when the server stops.
    assert_eq!(server.terminate().await, Some(0));
    let a = trace_of(&spans, trace_a);
    let [http, mcp, tool, store] = tool_call_chain(&a, parent_a);
    assert_eq!(
        http.attributes.get("request_id").map(String::as_str),
        Some("trace-test-1")
    );
    assert_eq!(
        mcp.attributes.get("method").map(String::as_str),
        Some("tools/call")
    );
    assert_eq!(
        mcp.attributes.get("subject").map(String::as_str),
        Some("local")
    );
    assert!(mcp.attributes.contains_key("org"));
    assert_eq!(
        tool.attributes.get("tool").map(String::as_str),
        Some("list_notes")
    );
    assert_eq!(
        store.attributes.get("op").map(String::as_str),
        Some("list_records")
    );
    for span in &a {
        for value in span.attributes.values() {
            assert!(
                !value.to_lowercase().contains("bearer"),
                "no credential in {span:?}"
            );
        }
    }

    let b = trace_of(&spans, trace_b);
    let mcp = one(&b, "mcp.request");
    assert_eq!(
        mcp.parent_span_id, parent_b,
        "the MCP span continues the _meta context"
    );
    let tool = one(&b, "tool");
    assert_eq!(tool.parent_span_id, mcp.span_id);
    assert!(
        b.iter()
            .any(|s| s.name == "store.query" && s.parent_span_id == tool.span_id)
    );
}

/// Over gRPC the same tree arrives, and a list request has its MCP span too.
#[tokio::test]
async fn spans_go_out_over_grpc_too() {
    let (url, spans, seen) = grpc_receiver().await;
    let server = Server::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .await;
    let (trace, parent) = ("5bf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8");
    let answer = call_in_trace(
        &server,
        "list_notes",
        json!({}),
        modern_meta(),
        Some((trace, parent)),
    )
    .await;
    assert!(answer["result"].is_object(), "{answer}");
    // A list request gets its MCP span too.
    let (list_trace, list_parent) = ("6bf92f3577b34da6a3ce929d0e0e4738", "20f067aa0ba902b9");
    let listed = modern_request(&server, "tools/list", None)
        .header("traceparent", format!("00-{list_trace}-{list_parent}-01"))
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
                   "params": {"_meta": modern_meta()}})
            .to_string(),
        )
        .send()
        .await
        .expect("listed");
    assert_eq!(listed.status(), 200);
    assert_eq!(server.terminate().await, Some(0));

    let listing = trace_of(&spans, list_trace);
    let list_http = one(&listing, "http");
    let list_mcp = one(&listing, "mcp.request");
    assert_eq!(list_mcp.parent_span_id, list_http.span_id);
    assert_eq!(
        list_mcp.attributes.get("method").map(String::as_str),
        Some("tools/list")
    );

    let requests = seen.lock().expect("lock").clone();
    assert!(!requests.is_empty(), "the exporter called the receiver");
    for request in &requests {
        assert_eq!(
            request,
            &format!("HTTP/2.0 {GRPC_EXPORT} application/grpc"),
            "a gRPC call"
        );
    }
    tool_call_chain(&trace_of(&spans, trace), parent);
}

#[tokio::test]
async fn the_trace_goes_on_into_an_upstream_under_the_upstream_call_span() {
    let (url, spans) = receiver().await;
    let data = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mcpgate.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[upstreams]]
name = "inner"
command = "{binary}"
args = ["serve", "--transport", "stdio"]
env = {{ MCPGATE_DATA_DIR = "{data}", MCPGATE_MODULES = "system", MCPGATE_LOG = "warn", OTEL_EXPORTER_OTLP_ENDPOINT = "{url}", OTEL_SERVICE_NAME = "inner", OTEL_BSP_SCHEDULE_DELAY = "100" }}

[upstreams.tools]
allow = ["health"]
"#,
            binary = crate::support::binary(),
            data = data.path().display(),
        ),
    )
    .expect("write");
    let server = Server::start(&[
        ("MCPGATE_CONFIG", file.to_str().expect("utf-8")),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    let (trace_id, parent) = ("5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13");
    let answer = call_in_trace(
        &server,
        "inner__health",
        json!({}),
        modern_meta(),
        Some((trace_id, parent)),
    )
    .await;
    assert_eq!(
        answer["result"]["structuredContent"]["status"], "ok",
        "{answer}"
    );

    // Both processes export on their own schedule: wait for the upstream's span.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let linked = loop {
        let trace = trace_of(&spans, trace_id);
        let call = trace.iter().find(|s| s.name == "upstream.call").cloned();
        let inner = call.as_ref().and_then(|call| {
            trace
                .iter()
                .find(|s| s.name == "mcp.request" && s.parent_span_id == call.span_id)
                .cloned()
        });
        if let (Some(call), Some(inner)) = (call, inner) {
            break (trace, call, inner);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upstream span under upstream.call: {trace:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (_, call, inner) = linked;
    // The gateway's own tool span closes after the call: stop the gateway (which flushes)
    // before reading the whole trace.
    assert_eq!(server.terminate().await, Some(0));
    let trace = trace_of(&spans, trace_id);
    assert_eq!(
        call.attributes.get("upstream").map(String::as_str),
        Some("inner")
    );
    let tool_named = |name: &str| {
        trace
            .iter()
            .find(|s| {
                s.name == "tool" && s.attributes.get("tool").map(String::as_str) == Some(name)
            })
            .unwrap_or_else(|| panic!("no {name} tool span in {trace:#?}"))
    };
    let gateway_tool = tool_named("inner__health");
    assert_eq!(
        call.parent_span_id, gateway_tool.span_id,
        "upstream.call is the tool's child"
    );
    assert_eq!(
        inner.attributes.get("method").map(String::as_str),
        Some("tools/call")
    );
    // The upstream's own tool span, under its MCP request span.
    assert_eq!(tool_named("health").parent_span_id, inner.span_id);
}

#[tokio::test]
async fn proxy_mode_hands_the_trace_to_its_upstream_under_the_proxys_span() {
    let (url, spans) = receiver().await;
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let upstream = Server::start(&otel).await;
    let mut env = otel.to_vec();
    let upstream_url = upstream.url();
    env.push(("MCPGATE_PROXY", upstream_url.as_str()));
    let proxy = Server::start(&env).await;
    let (trace_id, parent) = ("8a3c60f7d188f8fa79d48a391a778fa6", "53995c3f42cd8ad8");
    call_in_trace(
        &proxy,
        "health",
        json!({}),
        modern_meta(),
        Some((trace_id, parent)),
    )
    .await;
    assert_eq!(proxy.terminate().await, Some(0));
    assert_eq!(upstream.terminate().await, Some(0));
    let trace = trace_of(&spans, trace_id);
    let https: Vec<_> = trace.iter().filter(|s| s.name == "http").collect();
    assert_eq!(
        https.len(),
        2,
        "the proxy's request and the upstream's: {trace:#?}"
    );
    let outer = https
        .iter()
        .find(|s| s.parent_span_id == parent)
        .expect("the proxy's span");
    let inner = https
        .iter()
        .find(|s| s.parent_span_id == outer.span_id)
        .unwrap_or_else(|| panic!("the upstream's span is not under the proxy's: {trace:#?}"));
    assert!(trace.iter().any(
        |s| s.name == "tool" && s.attributes.get("tool").map(String::as_str) == Some("health")
    ));
    assert_ne!(inner.span_id, outer.span_id);
}
