#!/usr/bin/env bash
# Instructions executed per request, counted by callgrind: deterministic where calls/s and CPU
# time are not (a shared machine moves them by ±15%). mcpgate (whole edge on, dev-token auth)
# and rmcp-floor, one client, 2,000 `tools/call health` after 200 unmeasured ones, per era;
# and the gateway hop: mcpgate federating a floor (not counted) as an HTTP upstream, called as
# `floor__health` (modern era); and a resource read and a prompt (`resources/read`,
# `prompts/get` of the conformance module's `test://static-text` and `test_simple_prompt`),
# served by mcpgate itself and forwarded by a gateway to an upstream mcpgate that serves them
# (run natively, not counted). MCPGATE_BIN names another mcpgate binary to count (A/B).
# Usage: scripts/bench_instructions.sh   (needs valgrind; prints one line per server and era)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/callgrind_setup.sh release

count() { # server era [method target]: server is floor, mcpgate, gateway or reads (the
  # conformance module's) or forwarded (a gateway federating them)
  local server=$1 era=$2 method=${3:-tools/call}
  local url token=() tool=() out="$work/$server-$era-${method//\//-}.out"
  if [ "$server" = floor ]; then
    valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$root/target/release/rmcp-floor" --listen 127.0.0.1:8190 2>/dev/null &
    url=http://127.0.0.1:8190/mcp
  else
    local config=()
    case $server in
      gateway) config=(MCPGATE_CONFIG="$work/gateway.toml") tool=(--tool floor__health) ;;
      reads) config=(MCPGATE_MODULES=system,conformance) ;;
      forwarded) config=(MCPGATE_CONFIG="$work/forwarded.toml") ;;
    esac
    [ $# -lt 4 ] || tool=(--method "$method" --tool "$4")
    env "${config[@]}" MCPGATE_DATA_DIR="$work/data-$server" MCPGATE_AUTH=dev \
      MCPGATE_LISTEN=127.0.0.1:8180 valgrind --tool=callgrind --callgrind-out-file="$out" \
      "$mcpgate" serve 2>/dev/null &
    url=http://127.0.0.1:8180/mcp
    token=(--token dev:bench:acme:viewer)
  fi
  local pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "$url" && break; sleep 0.2; done
  "$bench" --url "$url" --era "$era" --concurrency 1 --requests 200 --warmup 0 "${token[@]}" "${tool[@]}" >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  local report
  report=$("$bench" --url "$url" --era "$era" --concurrency 1 --requests 2000 --warmup 0 "${token[@]}" "${tool[@]}" 2>/dev/null)
  callgrind_control -d "$pid" >/dev/null 2>&1
  # Failed calls cost other instructions than answered ones: a count of them is no count.
  grep -q '"errors":{}' <<<"$report" || { echo "$server $era $method: calls failed: $report" >&2; exit 1; }
  sleep 1
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local dump total
  dump=$(ls -t "$out".* | head -n 1)
  total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "{\"server\":\"$server\",\"era\":\"$era\",\"method\":\"$method\",\"instructions_per_request\":$((total / 2000))}"
}

# The upstreams the gateway federates, run natively (not counted): a floor of its own, and an
# mcpgate serving the conformance module's resources and prompts.
"$root/target/release/rmcp-floor" --listen 127.0.0.1:8191 2>/dev/null &
upstreams=$!
MCPGATE_DATA_DIR="$work/data-upstream" MCPGATE_MODULES=system,conformance \
  MCPGATE_LISTEN=127.0.0.1:8192 "$mcpgate" serve 2>/dev/null &
upstreams="$upstreams $!"
cat >"$work/gateway.toml" <<TOML
[[upstreams]]
name = "floor"
transport = "http"
url = "http://127.0.0.1:8191/mcp"
protocol = "2026-07-28"
trust_annotations = true
[upstreams.tools]
allow = ["health"]
TOML

for era in modern legacy; do
  count floor "$era"
  count mcpgate "$era"
done
cat >"$work/forwarded.toml" <<TOML
[[upstreams]]
name = "conformance"
transport = "http"
url = "http://127.0.0.1:8192/mcp"
protocol = "2026-07-28"
prefix = ""

[upstreams.resources]
allow = ["*"]

[upstreams.prompts]
allow = ["*"]
TOML
count gateway modern
for server in reads forwarded; do
  count "$server" modern resources/read test://static-text
  count "$server" modern prompts/get test_simple_prompt
done
