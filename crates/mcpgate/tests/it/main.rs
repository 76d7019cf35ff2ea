//! Integration tests: the real app and the real binary, driven over HTTP and stdio by real MCP
//! clients. One test binary, shared fixtures in `support`.

mod support;

mod admin;
mod auth;
mod browser;
mod catalog;
mod cli;
mod docs;
mod edge;
mod embed;
mod http_clients;
mod legacy;
mod legacy_sse;
mod malformed;
mod modern_calls;
mod reload;
mod rest;
mod resume;
mod rls;
mod router;
mod sdk_auth;
mod sdk_clients;
mod sessions;
mod shape;
mod shared_sessions;
mod shutdown;
mod stdio;
mod store;
mod tls;
mod traces;
mod upstreams;
mod wire;
mod workspace;
