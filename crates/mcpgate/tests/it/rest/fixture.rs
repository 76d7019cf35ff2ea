//! The `Rest` fixture: an app on one backend driven in process, the builders of its requests
//! and the checks of its answers (status, headers, problem details, list items).

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use mcpgate::App;
use serde_json::Value;

use crate::support::{PgDatabase, config, oneshot, postgres_database};

/// The store a scenario runs on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

/// An app on one backend, and what must outlive it.
pub(super) struct Rest {
    router: axum::Router,
    _app: App,
    _dir: tempfile::TempDir,
    _db: Option<PgDatabase>,
}

/// Settings of a server that accepts writes.
pub(super) const WRITE: &[(&str, &str)] = &[("MCPGATE_WORKSPACE_WRITE", "true")];

impl Rest {
    /// An app on `backend` configured by `env`; `None` when PostgreSQL is not available here
    /// (never under CI).
    pub(super) async fn start(backend: Backend, env: &[(&str, &str)]) -> Option<Self> {
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_database().await?),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = config(&dir, env);
        if let Some(db) = &db {
            cfg.store.database_url = db.url.clone();
        }
        let app = App::build(cfg).await.expect("app builds");
        Some(Self {
            router: app.router(),
            _app: app,
            _dir: dir,
            _db: db,
        })
    }

    pub(super) async fn send(&self, call: Call) -> Reply {
        let mut request = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .header(header::HOST, "localhost");
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(call.body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let (status, headers, text) = oneshot(&self.router, request).await;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        Reply {
            what: format!("{} {}", call.method, call.path),
            status,
            headers,
            body,
        }
    }

    /// Create a record and return it (asserting 201).
    pub(super) async fn create(&self, collection: &str, fields: Value, token: &str) -> Value {
        let reply = self
            .send(post(&format!("/api/v1/{collection}"), &fields).token(token))
            .await;
        reply.expect(StatusCode::CREATED);
        reply.body
    }
}

/// One request.
pub(super) struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    pub(super) body: Option<String>,
}

impl Call {
    pub(super) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(super) fn token(self, token: &str) -> Self {
        if token.is_empty() {
            self
        } else {
            self.header("authorization", &format!("Bearer {token}"))
        }
    }

    pub(super) fn if_match(self, version: i64) -> Self {
        self.header("if-match", &format!("\"{version}\""))
    }
}

pub(super) fn call(method: &'static str, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
    }
}

pub(super) fn get(path: &str) -> Call {
    call("GET", path)
}

pub(super) fn delete(path: &str) -> Call {
    call("DELETE", path)
}

/// A request with a JSON body of media type `content_type`.
pub(super) fn with_body(
    method: &'static str,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Call {
    let mut c = call(method, path).header("content-type", content_type);
    c.body = Some(body.to_string());
    c
}

pub(super) fn post(path: &str, body: &Value) -> Call {
    with_body("POST", path, "application/json", body)
}

pub(super) fn put(path: &str, body: &Value) -> Call {
    with_body("PUT", path, "application/json", body)
}

pub(super) fn merge_patch(path: &str, body: &Value) -> Call {
    with_body("PATCH", path, "application/merge-patch+json", body)
}

/// One answer.
pub(super) struct Reply {
    pub(super) what: String,
    status: StatusCode,
    headers: HeaderMap,
    pub(super) body: Value,
}

impl Reply {
    #[track_caller]
    pub(super) fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "{}: {}\nheaders: {:?}",
            self.what, self.body, self.headers
        );
        self
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub(super) fn etag(&self) -> &str {
        self.header("etag")
            .unwrap_or_else(|| panic!("{}: no ETag", self.what))
    }

    /// Assert a problem+json answer of `status` and type slug `slug`.
    #[track_caller]
    pub(super) fn problem(&self, status: StatusCode, slug: &str) -> &Self {
        self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.what
        );
        assert_eq!(
            self.body["type"],
            format!("https://mcpgate.dev/problems/{slug}"),
            "{}: {}",
            self.what,
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.what);
        assert!(self.body["title"].is_string(), "{}", self.what);
        assert!(self.body["detail"].is_string(), "{}", self.what);
        self
    }

    pub(super) fn items(&self) -> Vec<Value> {
        self.body["items"].as_array().cloned().unwrap_or_default()
    }

    pub(super) fn ids(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub(super) fn id(record: &Value) -> String {
    record["id"].as_str().expect("record id").to_owned()
}

pub(super) fn version(record: &Value) -> i64 {
    record["version"].as_i64().expect("record version")
}
