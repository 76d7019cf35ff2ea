#!/usr/bin/env bash
# Reproduce the figures in BENCHMARKS.md: mcpgate (whole edge on: dev-token auth, Host/Origin
# checks, request ids, metrics, JSON logs) next to the minimal rmcp server, in both protocol
# eras at concurrency 1/16/64, interleaved and repeated; then RSS and cold start.
# Usage: scripts/bench.sh [seconds-per-run] [repeats]   (results: target/bench/results.jsonl)
#        scripts/bench.sh workspace [seconds] [repeats] [backends]
#          the workspace scenario on SQLite and PostgreSQL; see scripts/bench_workspace.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = workspace ]; then
  shift
  exec scripts/bench_workspace.sh "$@"
fi
secs="${1:-5}"
reps="${2:-3}"
out=target/bench
mkdir -p "$out"
: >"$out/results.jsonl"

cargo build --release --locked -p mcpgate -p mcpgate-bench >/dev/null 2>&1
bench=target/release/mcpgate-bench

data=$(mktemp -d)
MCPGATE_DATA_DIR="$data" MCPGATE_AUTH=dev MCPGATE_LISTEN=127.0.0.1:8080 MCPGATE_LOG_FORMAT=json \
  target/release/mcpgate serve 2>"$out/mcpgate.log" &
gate=$!
target/release/rmcp-floor --listen 127.0.0.1:8090 2>/dev/null &
floor=$!
trap 'kill $gate $floor 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
for port in 8080 8090; do
  # Any HTTP answer means the server is up.
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
    sleep 0.1
  done
done
sleep 0.5

token="dev:bench:acme:viewer"
# Name a cold-start result line and record which probe it used.
label() { python3 -c 'import json,sys; d=json.load(sys.stdin); d["label"]=sys.argv[1]; d["probe"]=sys.argv[2]; print(json.dumps(d))' "$1" "$probe"; }
for era in modern legacy; do
  for c in 1 16 64; do
    for rep in $(seq 1 "$reps"); do
      "$bench" --url http://127.0.0.1:8090/mcp --era "$era" --concurrency "$c" --duration "$secs" \
        --label floor --server-pid "$floor" >>"$out/results.jsonl"
      "$bench" --url http://127.0.0.1:8080/mcp --era "$era" --concurrency "$c" --duration "$secs" \
        --label mcpgate --token "$token" --server-pid "$gate" >>"$out/results.jsonl"
    done
    echo "done: $era c=$c" >&2
  done
done
kill $gate $floor 2>/dev/null || true
wait 2>/dev/null || true

for probe in health discover; do
  "$bench" coldstart --runs 20 --probe "$probe" \
    --cmd "target/release/rmcp-floor --listen 127.0.0.1:8091" --url http://127.0.0.1:8091/mcp \
    | label floor >>"$out/results.jsonl"
  d2=$(mktemp -d)
  MCPGATE_DATA_DIR="$d2" "$bench" coldstart --runs 20 --probe "$probe" \
    --cmd "target/release/mcpgate serve --listen 127.0.0.1:8092" --url http://127.0.0.1:8092/mcp \
    | label mcpgate >>"$out/results.jsonl"
  rm -rf "$d2"
done
python3 scripts/bench_summary.py "$out/results.jsonl"
