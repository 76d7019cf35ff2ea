//! `mcpgate upstreams probe URL`: the gateway's upstream client, run on its own against one
//! Streamable HTTP server the way the official conformance suite's client scenarios drive a
//! client (the scenario, protocol version and context come from `MCP_CONFORMANCE_*`). It
//! connects in the era asked for, lists the tools, and calls them — the calls the context
//! names, or each listed tool with arguments made from its schema — answering elicitation with
//! the requested defaults and driving `input_required` rounds, as the gateway's client would.
//!
//! It authorizes as the gateway does toward an upstream with `[upstreams.oauth]`: the
//! context's client credentials (`client_secret_basic`/`_post` or `private_key_jwt`), a
//! workload's JWT, a pre-registered client, or — the default — the authorization code grant
//! with a client ID metadata document (`--client-metadata-url`) or dynamic registration, the
//! authorization endpoint's redirect followed without a browser (the suite's servers approve
//! at once).

use std::collections::BTreeMap;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProtocolVersion, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Map, Value, json};

use super::oauth::{Grant, Headless, OAuth, OAuthConfig, SharedClient};
use super::session::{lifecycle, open_http};
use super::tls::http_client;
use super::{Credential, SecretSource, UpstreamProtocol};

/// The client side of the probe: declares elicitation and answers it with the defaults of the
/// requested schema.
#[derive(Clone)]
struct Probe;

impl ClientHandler for Probe {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("mcpgate-upstream-client", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams {
            requested_schema, ..
        } = request
        else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let schema = serde_json::to_value(requested_schema).unwrap_or(Value::Null);
        let mut content = Map::new();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                if let Some(default) = property.get("default") {
                    content.insert(name.clone(), default.clone());
                }
            }
        }
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(Value::Object(content)))
    }
}

/// The OAuth client of a scenario, from its name and context.
fn oauth_of(
    url: &str,
    scenario: &str,
    context: &Value,
    client_metadata_url: Option<&str>,
) -> anyhow::Result<OAuth> {
    let text = |key: &str| context[key].as_str().map(str::to_owned);
    let secret = |key: &str| text(key).map(|v| SecretSource::Value(v.into()));
    let grant = if scenario.starts_with("auth/client-credentials") {
        Grant::ClientCredentials
    } else if let Some(jwt) = secret("valid_jwt") {
        Grant::JwtBearer(jwt)
    } else if let (Some(idp_token_endpoint), Some(id_token)) =
        (text("idp_token_endpoint"), secret("idp_id_token"))
    {
        Grant::IdentityAssertion {
            idp_token_endpoint,
            id_token,
            idp_client_id: text("idp_client_id"),
        }
    } else {
        Grant::AuthorizationCode
    };
    let algorithm = match text("signing_algorithm").as_deref() {
        Some(name) => name
            .parse()
            .map_err(|_| anyhow::anyhow!("signing algorithm {name:?}"))?,
        None => jsonwebtoken::Algorithm::ES256,
    };
    let config = OAuthConfig {
        grant,
        client_id: text("client_id"),
        client_secret: secret("client_secret"),
        private_key: secret("private_key_pem").map(|pem| (pem, algorithm)),
        auth_method: None,
        client_metadata_url: client_metadata_url.map(str::to_owned),
        scopes: None,
        issuer: text("issuer"),
        store: None,
        client: SharedClient::default(),
    };
    let http = http_client(None);
    Ok(OAuth::new("probe", url, config, http.clone())?
        .with_agent(std::sync::Arc::new(Headless { http })))
}

/// Run the probe against `url` (presenting `client_metadata_url` as its client id where a
/// server takes client ID metadata documents); a report of what was called.
pub async fn probe(url: &str, client_metadata_url: Option<&str>) -> anyhow::Result<String> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let version = std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION")
        .unwrap_or_else(|_| "2025-11-25".to_owned());
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    let protocol = if version.as_str() >= ProtocolVersion::V_2026_07_28.as_str() {
        UpstreamProtocol::Modern
    } else {
        UpstreamProtocol::Legacy
    };
    let oauth = oauth_of(url, &scenario, &context, client_metadata_url)?;
    let running = open_http(
        url,
        &BTreeMap::new(),
        Probe,
        lifecycle(protocol),
        super::correlate::Correlated {
            client: http_client(None),
            signer: None,
            credential: Credential::OAuth(std::sync::Arc::new(oauth)),
        },
    )
    .await?;
    if protocol == UpstreamProtocol::Legacy {
        // A legacy server may put its requests (an elicitation during a call) on the session's
        // standalone stream, which rmcp opens in the background once the session is up; a
        // server that sends before that stream is there loses the request. Give it a moment
        // (a gateway's sessions open long before their first call).
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let tools = running.peer().list_all_tools().await?;
    let mut report = format!("{} tool(s) listed\n", tools.len());
    let calls: Vec<(String, Value)> = match context["toolCalls"].as_array() {
        Some(calls) => calls
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_owned(),
                    c["arguments"].clone(),
                )
            })
            .collect(),
        None => planned_calls(&scenario, &tools),
    };
    for (name, arguments) in calls {
        let mut params = CallToolRequestParams::new(name.clone());
        params.arguments = arguments.as_object().cloned();
        match running.call_tool(params).await {
            Ok(result) => {
                report.push_str(&format!(
                    "{name}: {}\n",
                    if result.is_error == Some(true) {
                        "tool error"
                    } else {
                        "ok"
                    }
                ));
            }
            Err(e) => report.push_str(&format!("{name}: failed: {e}\n")),
        }
    }
    let _ = running.cancel().await;
    Ok(report)
}

/// The calls a scenario without a context gets: none where listing is the behaviour under
/// test, the schema round trip where the scenario asks for it, otherwise each tool once.
fn planned_calls(scenario: &str, tools: &[Tool]) -> Vec<(String, Value)> {
    match scenario {
        "initialize" | "request-metadata" | "json-schema-ref-no-deref" => Vec::new(),
        "json-schema-2020-12-preservation" => {
            // Echo the other tool's input schema, verbatim, through the tool that takes one.
            let echo = tools.iter().find(|t| {
                t.input_schema
                    .get("properties")
                    .and_then(|p| p.get("schema"))
                    .is_some()
            });
            let focal = tools.iter().find(|t| Some(*t) != echo);
            match (echo, focal) {
                (Some(echo), Some(focal)) => vec![(
                    echo.name.to_string(),
                    json!({"schema": Value::Object((*focal.input_schema).clone())}),
                )],
                _ => Vec::new(),
            }
        }
        _ => tools
            .iter()
            .map(|t| (t.name.to_string(), arguments_for(t)))
            .collect(),
    }
}

/// Arguments that fit a tool's input schema: a plain value of each property's type.
fn arguments_for(tool: &Tool) -> Value {
    let mut arguments = Map::new();
    if let Some(Value::Object(properties)) = tool.input_schema.get("properties") {
        for (name, property) in properties {
            let value = match property.get("type").and_then(Value::as_str) {
                Some("number") => json!(2.5),
                Some("integer") => json!(3),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ => property
                    .get("default")
                    .cloned()
                    .unwrap_or_else(|| json!("test")),
            };
            arguments.insert(name.clone(), value);
        }
    }
    Value::Object(arguments)
}
