#!/usr/bin/env bash
# Writes crates/mcpgate/hot-code.txt: the functions mcpgate runs, in the order the linker lays
# them out at the front of the executable's code (crates/mcpgate/build.rs hands the file to the
# linker as its symbol ordering). The kernel maps an executable's pages in runs (fault-around,
# the page cache's large folios), so code spread over the whole file makes nearly all of it
# resident; laid out together, what is resident is about what runs.
#
# Two passes over the build the image ships (`dist`), each serving the same mix — forwarded tool
# calls (a gateway federating rmcp-floor over HTTP, both eras downstream), mcpgate's own tools,
# resource reads and prompts, the workspace's REST API, the probes and metrics, refusals (no
# token, a bad one, an unknown tool), then the same in proxy mode (`serve --proxy`):
# 1. callgrind counts what start-up and serving run. The functions serving ran come first,
#    hottest first, then those only start-up ran.
# 2. A page-fault trace (perf) of the build laid out by pass 1, run natively and also at 64
#    callers, adds at the end the functions whose code faulted outside the laid-out section:
#    code the CPU chooses at run time where callgrind's CPU lacks the feature (SHA-NI), paths
#    taken only when threads contend (callgrind runs one thread at a time).
# Symbols the linker does not find are skipped, so a stale file costs only layout, never a
# build; run this again after a toolchain or dependency upgrade.
# Usage: scripts/hot_code.sh [faults]   (needs valgrind and perf; several minutes; `faults`
# runs pass 2 alone, adding to the file as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/callgrind_setup.sh dist

"$root/target/dist/rmcp-floor" --listen 127.0.0.1:8291 2>/dev/null &
upstreams=$!
cat >"$work/gateway.toml" <<TOML
[[upstreams]]
name = "floor"
transport = "http"
url = "http://127.0.0.1:8291/mcp"
protocol = "2026-07-28"
pool_size = 2
timeout = "10s"
trust_annotations = true
[upstreams.tools]
allow = ["health"]
TOML
printf '[proxy]\ntrust_annotations = true\n' >"$work/proxy.toml"
url=http://127.0.0.1:8280/mcp
token=dev:hot:acme:admin

load() { # era flags...: calls that must all be answered (a refusal runs other code)
  local era=$1 report
  shift
  report=$("$bench" --url "$url" --era "$era" --warmup 0 --token "$token" "$@" 2>&1) || true
  grep -q '"errors":{}' <<<"$report" || { echo "$name $era $*: calls failed: $report" >&2; exit 1; }
}

serve() { # how...: mcpgate (the last words of `how` name it and its arguments), until ready
  env MCPGATE_DATA_DIR="$work/data-$name" MCPGATE_AUTH=dev MCPGATE_LISTEN=127.0.0.1:8280 \
    MCPGATE_LOG_FORMAT=json MCPGATE_MODULES=system,workspace,conformance \
    MCPGATE_WORKSPACE_WRITE=true "$@" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "$url" && break; sleep 0.2; done
}

mix() { # concurrency...: the serving mix, forwarded and own calls at each concurrency
  local tools=(health)
  [ "$name" = proxy ] || tools+=(floor__health)
  for era in modern legacy; do
    for tool in "${tools[@]}"; do
      for c in "$@"; do
        load "$era" --concurrency "$c" --requests $((c > 16 ? 6000 : 300)) --tool "$tool"
      done
    done
  done
  if [ "$name" = gateway ]; then
    load modern --requests 200 --method resources/read --tool test://static-text
    load modern --requests 200 --method prompts/get --tool test_simple_prompt
    "$bench" workspace --url "$url" --token "$token" --tasks 50 --notes 50 --comments 50 \
      --duration 3 --warmup 0 --concurrency 4 >/dev/null 2>&1
    for path in /api/v1/tasks /api/v1/notes '/api/v1/search?q=the' /api/v1/nothing; do
      curl -s -o /dev/null -H "Authorization: Bearer $token" "${url%/mcp}$path" || true
    done
  fi
  for path in /healthz /readyz /metrics /openapi.json /mcp; do
    curl -s -o /dev/null "${url%/mcp}$path" || true
    curl -s -o /dev/null -H "Authorization: Bearer $token" "${url%/mcp}$path" || true
  done
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'Authorization: Bearer nope' \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$url" || true
  "$bench" --url "$url" --era modern --requests 50 --warmup 0 --token "$token" \
    --tool no_such_tool >/dev/null 2>&1 || true
}

counted() { # args...: pass 1, serving as $name under callgrind, dumped after start-up and after the mix
  local out="$work/$name.out"
  serve valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$out" "$mcpgate" "$@"
  callgrind_control -d "$pid" >/dev/null 2>&1
  mv "$(ls -t "$out".* | head -n 1)" "$work/$name.start"
  mix 1 16
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  mv "$(ls -t "$out".* | head -n 1)" "$work/$name.serve"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

traced() { # args...: pass 2, serving as $name natively with its page faults recorded
  serve perf record -q -e page-faults -c 1 -d -o "$work/$name.faults" "$mcpgate" "$@"
  mix 1 16 64
  pkill -KILL -P "$pid" 2>/dev/null || true # mcpgate, not perf: perf writes its file as it ends
  wait "$pid" 2>/dev/null || true
}

if [ "${1:-}" != faults ]; then
  name=gateway MCPGATE_CONFIG="$work/gateway.toml" counted serve
  name=proxy MCPGATE_CONFIG="$work/proxy.toml" counted serve --proxy http://127.0.0.1:8291/mcp
  python3 scripts/hot_code.py callgrind "$work" crates/mcpgate/hot-code.txt
  cargo build --profile dist --locked -p mcpgate >/dev/null 2>&1 # laid out by pass 1
fi
name=gateway MCPGATE_CONFIG="$work/gateway.toml" traced serve
name=proxy MCPGATE_CONFIG="$work/proxy.toml" traced serve --proxy http://127.0.0.1:8291/mcp
python3 scripts/hot_code.py faults "$work" "$mcpgate" crates/mcpgate/hot-code.txt
