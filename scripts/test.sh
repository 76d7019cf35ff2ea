#!/usr/bin/env bash
# The full test suite, as CI runs it: formatting, lints, every test (with the real SDK clients,
# SQLite and PostgreSQL), and the official MCP conformance suite in both protocol eras.
# Installs what it needs (test clients, Chromium, the pinned conformance suite and its Node runtime)
# and starts PostgreSQL if it is installed but stopped, and Redis (installing it if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "services"
export MCPGATE_TEST_DATABASE_URL="${MCPGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL: $MCPGATE_TEST_DATABASE_URL"
else
  echo "PostgreSQL is not reachable; PostgreSQL tests will fail under CI=true" >&2
fi

export MCPGATE_TEST_REDIS_URL="${MCPGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if ! command -v redis-server >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; } || true
fi
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Redis: $MCPGATE_TEST_REDIS_URL"
else
  echo "Redis is not reachable; Redis tests will fail under CI=true" >&2
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "module shape: no import cycle between src/ modules"
cargo test -p mcpgate --test it --locked shape::

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "test clients (official Python and TypeScript SDKs)"
scripts/install-test-clients.sh

step "Chromium (renders /docs in tests/it/docs.rs)"
if [ ! -x /usr/bin/chromium ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
fi

step "cargo test"
cargo test --workspace --locked

step "MCP conformance suite"
scripts/conformance.sh

step "container image (build, run, drain, volume)"
scripts/container-test.sh

step "deploy topology (PostgreSQL, Redis, two replicas behind HAProxy; rolling restart)"
scripts/topology-test.sh
