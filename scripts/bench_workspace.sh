#!/usr/bin/env bash
# The workspace scenario on SQLite and PostgreSQL: mcpgate with the whole edge on (dev-token
# auth, Host/Origin checks, metrics, JSON logs at info) and workspace writes enabled; the bench
# seeds 500 tasks, 200 notes and 300 comments through the tools, then 50 clients run 80% reads
# and 20% writes. Every run gets a fresh server and a fresh database (a new data directory, or
# a PostgreSQL database created for the run and dropped after it); runs alternate between the
# backends and are repeated. Ends with the medians from scripts/bench_summary.py.
#
# Usage: scripts/bench.sh workspace [seconds] [repeats] [backends]
#    or: scripts/bench_workspace.sh [seconds] [repeats] [backends]
#   seconds   measured window per run (default 20, after a 3 s warm-up; env WARMUP)
#   repeats   runs per backend (default 2)
#   backends  "sqlite postgres" (default), or one of them
# Env: CLIENTS (default 50); MCPGATE_BENCH_PG, the PostgreSQL server as
#   postgres://USER@HOST:PORT (default postgres://postgres@127.0.0.1:5432), reached with psql.
# Results: target/bench/workspace.jsonl; per run, the server's log and its /metrics at the end
#   in target/bench/workspace-<backend>-<run>.{log,metrics}.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
reps="${2:-2}"
backends="${3:-sqlite postgres}"
clients="${CLIENTS:-50}"
warmup="${WARMUP:-3}"
pg="${MCPGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
port=8085
out=target/bench
mkdir -p "$out"
: >"$out/workspace.jsonl"

if ! cargo build --release --locked -p mcpgate -p mcpgate-bench >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi
bench=target/release/mcpgate-bench

server="" data="" db=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$db" ]; then
    psql "$pg/postgres" -qc "drop database if exists $db with (force)" >/dev/null || true
  fi
  if [ -n "$data" ]; then rm -rf "$data"; fi
  server="" data="" db=""
}
trap cleanup EXIT

run() { # backend run-number
  local backend=$1 n=$2
  local name="workspace-$backend-$n"
  data=$(mktemp -d)
  local env=(MCPGATE_DATA_DIR="$data" MCPGATE_AUTH=dev MCPGATE_WORKSPACE_WRITE=true
    MCPGATE_LISTEN="127.0.0.1:$port" MCPGATE_LOG=info MCPGATE_LOG_FORMAT=json)
  if [ "$backend" = postgres ]; then
    db="mcpgate_bench_$$_$n"
    psql "$pg/postgres" -qc "create database $db"
    env+=(MCPGATE_DATABASE_URL="$pg/$db")
  fi
  env "${env[@]}" target/release/mcpgate serve 2>"$out/$name.log" &
  server=$!
  # Any HTTP answer means the server is up.
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
    sleep 0.1
  done
  "$bench" workspace --url "http://127.0.0.1:$port/mcp" --token dev:bench:acme:editor \
    --concurrency "$clients" --duration "$secs" --warmup "$warmup" --label "$backend" \
    --server-pid "$server" >>"$out/workspace.jsonl"
  curl -s -o "$out/$name.metrics" "http://127.0.0.1:$port/metrics" || true
  cleanup
  echo "done: $backend run $n" >&2
}

for n in $(seq 1 "$reps"); do
  for backend in $backends; do
    run "$backend" "$n"
  done
done
python3 scripts/bench_summary.py "$out/workspace.jsonl"
