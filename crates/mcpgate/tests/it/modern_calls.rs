//! Plain modern tool calls, resource reads and prompts are served without rmcp's per-request
//! service: the same requests sent so that rmcp serves them (an `Accept` with weights, which
//! only rmcp reads) are answered alike, and every check rmcp makes on a modern request still
//! refuses what it refused.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{app, modern_call, modern_meta, oneshot};

/// What the served path takes.
const PLAIN_ACCEPT: &str = "application/json, text/event-stream";
/// The same ranges with weights: left to rmcp.
const WEIGHTED_ACCEPT: &str = "application/json;q=1, text/event-stream;q=0.9";

fn call(body: &str, tool: &str, accept: &str) -> Request<Body> {
    Request::post("/mcp")
        .header(header::HOST, "localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, accept)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

/// Status, content type and JSON body of `request`.
async fn answer(router: &axum::Router, request: Request<Body>) -> (StatusCode, String, Value) {
    let (status, headers, body) = oneshot(router, request).await;
    let kind = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, kind, body)
}

/// A modern call whose client declares `capabilities`.
fn call_declaring(id: u64, tool: &str, arguments: Value, capabilities: Value) -> String {
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments, "_meta": meta}})
    .to_string()
}

/// A sealed request state differs from one round to the next (it is encrypted afresh).
fn without_request_state(mut body: Value) -> Value {
    if let Some(result) = body.get_mut("result").and_then(Value::as_object_mut) {
        result.remove("requestState");
    }
    body
}

#[tokio::test]
async fn plain_calls_are_answered_as_rmcp_answers_them() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let calls = [
        ("test_simple_text", json!({})),
        ("test_image_content", json!({})),
        ("test_embedded_resource", json!({})),
        ("test_multiple_content_types", json!({})),
        ("test_error_handling", json!({})),
        // Arguments that break the schema: an isError result naming them.
        ("server_info", json!({"bogus": 1})),
        // Needs a capability the call did not declare: -32021, HTTP 400.
        ("test_missing_capability", json!({})),
        // A first round that asks the client for input.
        ("test_input_required_result_elicitation", json!({})),
        ("test_input_required_result_multiple_inputs", json!({})),
    ];
    for (id, (tool, arguments)) in (1..).zip(calls) {
        let answers = json!({"elicitation": {}, "sampling": {}, "roots": {}});
        let body = match tool.starts_with("test_input_required") {
            true => call_declaring(id, tool, arguments, answers),
            false => modern_call(id, tool, arguments),
        };
        let served = answer(&router, call(&body, tool, PLAIN_ACCEPT)).await;
        let by_rmcp = answer(&router, call(&body, tool, WEIGHTED_ACCEPT)).await;
        assert_eq!(served.0, by_rmcp.0, "{tool}: status");
        assert_eq!(served.1, by_rmcp.1, "{tool}: content type");
        assert_eq!(
            without_request_state(served.2.clone()),
            without_request_state(by_rmcp.2),
            "{tool}: body"
        );
        assert_eq!(served.2["id"], id, "{tool}");
    }
    let (status, _, body) = answer(
        &router,
        call(
            &modern_call(50, "test_missing_capability", json!({})),
            "test_missing_capability",
            PLAIN_ACCEPT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], -32021, "{body}");
}

/// A multi-round call continues on the served path: the state sealed by one round opens in
/// the next, and a tampered state is refused.
#[tokio::test]
async fn input_rounds_continue_and_tampered_state_is_refused() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let tool = "test_input_required_result_request_state";
    let (_, _, first) = answer(
        &router,
        call(
            &call_declaring(1, tool, json!({}), json!({"elicitation": {}})),
            tool,
            PLAIN_ACCEPT,
        ),
    )
    .await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"]
        .as_str()
        .expect("a request state");
    let responses: serde_json::Map<String, Value> = first["result"]["inputRequests"]
        .as_object()
        .expect("input requests")
        .keys()
        .map(|key| {
            let accept = json!({"action": "accept", "content": {"confirmed": true}});
            (key.clone(), accept)
        })
        .collect();
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}});
    let round = |id: u64, state: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": tool, "arguments": {}, "_meta": meta,
            "inputResponses": responses, "requestState": state}})
        .to_string()
    };
    let (status, _, second) = answer(&router, call(&round(2, state), tool, PLAIN_ACCEPT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["result"]["resultType"], "complete", "{second}");
    let mut tampered = state.to_owned();
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (_, _, refused) = answer(&router, call(&round(3, &tampered), tool, PLAIN_ACCEPT)).await;
    assert!(
        refused.get("error").is_some() || refused["result"]["isError"] == true,
        "a tampered state is refused: {refused}"
    );
}

/// rmcp's checks of a modern request's headers against its body hold on every call: a header
/// naming another tool or method, another era, or a missing `Mcp-Param-*` header is refused
/// with -32020 (HTTP 400) and nothing runs.
#[tokio::test]
async fn headers_that_disagree_with_the_body_are_refused() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    let body = modern_call(9, "server_info", json!({}));
    let refused = |request: Request<Body>| {
        let router = router.clone();
        async move {
            let (status, _, body) = answer(&router, request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["id"], 9, "{body}");
            body["error"]["code"].as_i64().expect("a JSON-RPC error")
        }
    };
    // Mcp-Name of a tool other than the body's: an intermediary routing on it would be fooled.
    assert_eq!(
        refused(call(&body, "test_error_handling", PLAIN_ACCEPT)).await,
        -32020
    );
    let with = |mut request: Request<Body>, name: &'static str, value: Option<&str>| {
        match value {
            Some(value) => request
                .headers_mut()
                .insert(name, value.parse().expect("value")),
            None => request.headers_mut().remove(name),
        };
        request
    };
    let named = |body: &str, tool: &str| call(body, tool, PLAIN_ACCEPT);
    let region = modern_call(9, "test_custom_headers", json!({"region": "eu"}));
    for request in [
        with(
            named(&body, "server_info"),
            "mcp-method",
            Some("tools/list"),
        ),
        with(named(&body, "server_info"), "mcp-name", None),
        // A tool whose schema asks for Mcp-Param-Region: the header must come, and agree.
        named(&region, "test_custom_headers"),
        with(
            named(&region, "test_custom_headers"),
            "mcp-param-region",
            Some("us"),
        ),
    ] {
        assert_eq!(refused(request).await, -32020);
    }
    let request = with(
        named(&region, "test_custom_headers"),
        "mcp-param-region",
        Some("eu"),
    );
    let (status, _, answered) = answer(&router, request).await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert!(answered.get("result").is_some(), "{answered}");
    // Params that do not read as a tool call's: -32602, HTTP 400, as before.
    let unreadable = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                            "params": {"name": 7, "_meta": modern_meta()}});
    let (status, _, body) = answer(&router, call(&unreadable.to_string(), "7", PLAIN_ACCEPT)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert_eq!(body["id"], 9, "{body}");
    // `_meta` of another era than the header names.
    let mut older = modern_meta();
    older["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let mixed = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                       "params": {"name": "server_info", "arguments": {}, "_meta": older}});
    let (status, _, body) = answer(
        &router,
        call(&mixed.to_string(), "server_info", PLAIN_ACCEPT),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The caller's role still decides: a viewer's call of a write tool is refused on the served
/// path as it was before, and a writer's goes through.
#[tokio::test]
async fn a_viewer_still_cannot_call_a_write_tool() {
    let (app, _dir) = app(&[
        ("MCPGATE_AUTH", "dev"),
        ("MCPGATE_MODULES", "system,workspace"),
        ("MCPGATE_WORKSPACE_WRITE", "true"),
    ])
    .await;
    let router = app.router();
    let as_caller = |token: &str| {
        let mut request = call(
            &modern_call(4, "create_note", json!({"title": "x"})),
            "create_note",
            PLAIN_ACCEPT,
        );
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("value"),
        );
        request
    };
    let (status, _, body) = answer(&router, as_caller("dev:ann:acme:viewer")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(body.get("result").is_none(), "{body}");
    let (status, _, body) = answer(&router, as_caller("dev:bob:acme:editor")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], false, "{body}");
}

/// A small deterministic generator (xorshift64*): a failing case names the seed and the case
/// number that repeat it.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `usual` `percent` times in a hundred, else one of `others`.
    fn mostly<T: Clone>(&mut self, percent: u64, usual: T, others: &[T]) -> T {
        if self.next() % 100 < percent || others.is_empty() {
            usual
        } else {
            others[(self.next() % others.len() as u64) as usize].clone()
        }
    }
}

/// One request made of random parts: mostly a plain modern tool call, resource read or prompt,
/// with now and then a header missing, repeated or disagreeing, a body of another era or
/// method, `_meta` that asks for an event stream, or fields no call has. Its headers (but
/// `Accept`) and its body.
fn random_request(dice: &mut Dice) -> (Vec<(&'static str, String)>, String) {
    fn one_of<'a>(dice: &mut Dice, items: &[&'a str]) -> &'a str {
        items[(dice.next() % items.len() as u64) as usize]
    }
    // A tool call most of the time, else a resource read or a prompt: the method, the params'
    // key that names it, and what it names.
    let (method, key, subject) = match dice.next() % 10 {
        0 | 1 => {
            let uri = one_of(
                dice,
                &[
                    "test://static-text",
                    "test://static-binary",
                    "test://template/42/data",
                    "test://nonexistent",
                    "test://template/é/data",
                ],
            );
            ("resources/read", "uri", uri)
        }
        2 | 3 => {
            let prompt = one_of(
                dice,
                &[
                    "test_simple_prompt",
                    "test_prompt_with_arguments",
                    "test_prompt_with_image",
                    "test_input_required_result_prompt",
                    "no_such_prompt",
                ],
            );
            ("prompts/get", "name", prompt)
        }
        _ => {
            let tool = one_of(
                dice,
                &[
                    "test_simple_text",
                    "test_error_handling",
                    "test_image_content",
                    "test_missing_capability",
                    "test_custom_headers",
                    "no_such_tool",
                ],
            );
            ("tools/call", "name", tool)
        }
    };
    let arguments = match method {
        "resources/read" => None,
        "prompts/get" => dice.mostly(
            85,
            Some(json!({"arg1": "a", "arg2": "b"})),
            &[Some(json!({})), Some(json!({"arg1": 5})), None],
        ),
        _ => dice.mostly(
            90,
            Some(json!({})),
            &[
                Some(json!({"region": "eu"})),
                Some(json!({"bogus": [1, 2]})),
                Some(json!([])),
                Some(json!("text")),
                None,
            ],
        ),
    };
    let mut meta = modern_meta();
    match dice.mostly(90, 0, &[1, 2, 3, 4, 5, 6, 7, 8]) {
        1 => drop(
            meta.as_object_mut()
                .map(|m| m.remove("io.modelcontextprotocol/protocolVersion")),
        ),
        2 => meta["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25"),
        3 => drop(
            meta.as_object_mut()
                .map(|m| m.remove("io.modelcontextprotocol/clientCapabilities")),
        ),
        4 => meta["progressToken"] = json!(5),
        5 => meta["io.modelcontextprotocol/logLevel"] = json!("debug"),
        6 => meta["example.com/trace"] = json!({"a": 1}),
        7 => meta = json!(5),
        8 => meta["io.modelcontextprotocol/clientCapabilities"] = json!({"elicitation": {}}),
        _ => {}
    }
    let mut params = json!({key: subject});
    if let Some(arguments) = arguments {
        params["arguments"] = arguments;
    }
    if dice.mostly(96, true, &[false]) {
        params["_meta"] = meta;
    }
    match dice.mostly(95, 0, &[1, 2]) {
        1 => params["task"] = json!({"ttl": 1000}),
        2 => params["unexpected"] = json!(1),
        _ => {}
    }
    let number = json!(dice.next() % 1000);
    let id = dice.mostly(
        92,
        number,
        &[
            json!("an-id"),
            json!(-3),
            json!(9_007_199_254_740_993u64),
            json!(1.5),
        ],
    );
    let mut body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let other_method = one_of(
        dice,
        &["tools/list", "tools/call", "resources/read", "prompts/get"],
    );
    match dice.mostly(95, 0, &[1, 2, 3]) {
        1 => body["method"] = json!(other_method),
        2 => body["jsonrpc"] = json!("1.0"),
        3 => body["extra"] = json!(true),
        _ => {}
    }
    let mut body = body.to_string();
    if dice.mostly(96, false, &[true]) {
        // The same name with its first letter escaped: equal once read.
        let plain = format!("\"{key}\":\"{subject}\"");
        let escaped = format!(
            "\"{key}\":\"\\u{:04x}{}\"",
            subject.as_bytes()[0],
            &subject[1..]
        );
        body = body.replacen(&plain, &escaped, 1);
    }
    let mut headers = vec![("content-type", "application/json".to_owned())];
    let mut header =
        |dice: &mut Dice, name: &'static str, usual: String, others: &[String]| match dice.mostly(
            95,
            0,
            &[1, 2, 3],
        ) {
            1 => {}
            2 => {
                headers.push((name, usual.clone()));
                headers.push((name, usual));
            }
            3 if !others.is_empty() => {
                let other = others[(dice.next() % others.len() as u64) as usize].clone();
                headers.push((name, other));
            }
            _ => headers.push((name, usual)),
        };
    header(
        dice,
        "mcp-protocol-version",
        "2026-07-28".into(),
        &["2025-11-25".into(), "2026-07-28 ".into()],
    );
    header(
        dice,
        "mcp-method",
        method.into(),
        &[other_method.into(), method.to_uppercase()],
    );
    let base64 = {
        use base64::Engine as _;
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject)
        )
    };
    header(
        dice,
        "mcp-name",
        subject.into(),
        &[base64, format!("{subject} "), "test_simple_text".into()],
    );
    match dice.mostly(95, 0, &[1, 2, 3]) {
        1 => headers.push(("mcp-param-region", "eu".into())),
        2 => headers.push(("mcp-param-other", "x".into())),
        3 => headers[0].1 = "application/json; charset=utf-8".into(),
        _ => {}
    }
    (headers, body)
}

/// Requests made of random parts get the same answer from the served path and from rmcp (the
/// same request with a weighted `Accept`, which only rmcp reads): whatever the served path takes
/// it answers as rmcp would, and whatever rmcp refuses is refused on the served path too.
#[tokio::test]
async fn requests_of_random_parts_are_answered_alike_on_both_paths() {
    let (app, _dir) = app(&[("MCPGATE_MODULES", "system,conformance")]).await;
    let router = app.router();
    // Another seed (`MCPGATE_TEST_SEED=<number>`) tries other requests.
    let seed = std::env::var("MCPGATE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6d63_7067_6174_6531);
    let mut dice = Dice(seed);
    let mut results = 0;
    for case in 0..600 {
        let (headers, body) = random_request(&mut dice);
        let lane = |accept: &str| {
            let mut request = Request::post("/mcp")
                .header(header::HOST, "localhost:8080")
                .header(header::ACCEPT, accept);
            for (name, value) in &headers {
                request = request.header(*name, value.as_str());
            }
            request.body(Body::from(body.clone())).expect("request")
        };
        let (status, served_headers, served) = oneshot(&router, lane(PLAIN_ACCEPT)).await;
        let (rmcp_status, rmcp_headers, by_rmcp) = oneshot(&router, lane(WEIGHTED_ACCEPT)).await;
        let context = format!("seed {seed:#x}, case {case}: {headers:?} {body}");
        assert_eq!(
            status, rmcp_status,
            "status; {context}\n{served}\n{by_rmcp}"
        );
        assert_eq!(
            served_headers.get(header::CONTENT_TYPE),
            rmcp_headers.get(header::CONTENT_TYPE),
            "content type; {context}"
        );
        let read = |text: &str| {
            serde_json::from_str::<Value>(text)
                .map(without_request_state)
                .unwrap_or_else(|_| Value::String(text.to_owned()))
        };
        assert_eq!(read(&served), read(&by_rmcp), "body; {context}");
        results += usize::from(read(&served).get("result").is_some());
    }
    // The parts are mostly those of a plain call: enough of them are answered with a result for
    // the comparison to be about the served path, not only about refusals.
    assert!(results >= 150, "only {results} of 600 cases had a result");
}
