#!/usr/bin/env bash
# The gateway's hop cost: rmcp-floor called directly, and the same floor federated behind
# mcpgate (whole edge on: dev-token auth, Host/Origin checks, request ids, metrics, JSON logs,
# rate limits, the catalog's argument validation), the same floor behind mcpgate in proxy mode
# (`serve --proxy`: the same edge, the request relayed as it is), and the gateway's own `health`
# (its edge without the hop), interleaved and repeated at concurrency 1/16/64 in the modern era; each
# server's CPU per call and the gateway's memory (anonymous and file-mapped) from /proc.
# Usage: scripts/bench_hop.sh [seconds-per-run] [repeats]   (results: target/bench/hop.jsonl)
# MCPGATE_BEFORE=<another mcpgate binary> adds its gateway hop as the row `gateway-before`, run
# in the same interleaving (an A/B of two builds side by side).
# MCPGATE_BENCH_PIN=1 pins the floor and the load generator to CPU 0 and every mcpgate to CPU 1:
# the hop on a core of its own, as a gateway deployed on its own host or cores would run, where
# by default all three share both cores (the direct row then also has one core).
# MCPGATE_BENCH_PROFILE=dist measures the build the image ships (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-4}"
reps="${2:-3}"
profile="${MCPGATE_BENCH_PROFILE:-release}"
out=target/bench
mkdir -p "$out"
: >"$out/hop.jsonl"

# mcpgate alone, as the image builds it (built together, the bench's features would reach it).
cargo build --profile "$profile" --locked -p mcpgate-bench >/dev/null 2>&1
cargo build --profile "$profile" --locked -p mcpgate >/dev/null 2>&1
bench=target/$profile/mcpgate-bench
client=() gateway=()
if [ "${MCPGATE_BENCH_PIN:-}" = 1 ]; then
  client=(taskset -c 0) gateway=(taskset -c 1)
  bench="taskset -c 0 $bench"
fi

data=$(mktemp -d)
cat >"$data/gateway.toml" <<TOML
[[upstreams]]
name = "floor"
transport = "http"
url = "http://127.0.0.1:8090/mcp"
protocol = "2026-07-28"
pool_size = 2
timeout = "10s"
trust_annotations = true   # the floor's health says it only reads: viewers may call it

[upstreams.tools]
allow = ["health"]
TOML
"${client[@]}" target/$profile/rmcp-floor --listen 127.0.0.1:8090 2>/dev/null &
floor=$!
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:8090/mcp"; then break; fi
  sleep 0.1
done
MCPGATE_DATA_DIR="$data" MCPGATE_CONFIG="$data/gateway.toml" MCPGATE_AUTH=dev \
  MCPGATE_LISTEN=127.0.0.1:8080 MCPGATE_LOG_FORMAT=json \
  "${gateway[@]}" target/$profile/mcpgate serve 2>"$out/gateway.log" &
gate=$!
printf '[proxy]\ntrust_annotations = true\n' >"$data/proxy.toml"
mkdir -p "$data/proxy"
MCPGATE_DATA_DIR="$data/proxy" MCPGATE_CONFIG="$data/proxy.toml" MCPGATE_AUTH=dev \
  MCPGATE_LISTEN=127.0.0.1:8081 MCPGATE_LOG_FORMAT=json \
  "${gateway[@]}" target/$profile/mcpgate serve --proxy http://127.0.0.1:8090/mcp 2>"$out/proxy.log" &
proxy=$!
before=""
ports="8080 8081"
if [ -n "${MCPGATE_BEFORE:-}" ]; then
  mkdir -p "$data/before"
  MCPGATE_DATA_DIR="$data/before" MCPGATE_CONFIG="$data/gateway.toml" MCPGATE_AUTH=dev \
    MCPGATE_LISTEN=127.0.0.1:8082 MCPGATE_LOG_FORMAT=json \
    "${gateway[@]}" "$MCPGATE_BEFORE" serve 2>"$out/gateway-before.log" &
  before=$!
  ports="$ports 8082"
fi
trap 'kill $gate $proxy $floor $before 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
for port in $ports; do
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
    sleep 0.1
  done
done
sleep 0.5

token="dev:bench:acme:viewer"
for c in 1 16 64; do
  for rep in $(seq 1 "$reps"); do
    $bench --url http://127.0.0.1:8090/mcp --era modern --concurrency "$c" --duration "$secs" \
      --label direct --server-pid "$floor" >>"$out/hop.jsonl"
    $bench --url http://127.0.0.1:8080/mcp --era modern --concurrency "$c" --duration "$secs" \
      --tool floor__health --label gateway --token "$token" --server-pid "$gate" >>"$out/hop.jsonl"
    if [ -n "$before" ]; then
      $bench --url http://127.0.0.1:8082/mcp --era modern --concurrency "$c" --duration "$secs" \
        --tool floor__health --label gateway-before --token "$token" --server-pid "$before" \
        >>"$out/hop.jsonl"
    fi
    $bench --url http://127.0.0.1:8081/mcp --era modern --concurrency "$c" --duration "$secs" \
      --tool health --label proxy --token "$token" --server-pid "$proxy" >>"$out/hop.jsonl"
    $bench --url http://127.0.0.1:8080/mcp --era modern --concurrency "$c" --duration "$secs" \
      --tool health --label native --token "$token" --server-pid "$gate" >>"$out/hop.jsonl"
  done
  echo "done: c=$c" >&2
done
python3 scripts/bench_summary.py "$out/hop.jsonl"
