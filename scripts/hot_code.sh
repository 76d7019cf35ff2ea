#!/usr/bin/env bash
# Writes crates/mcpgate/hot-code.txt: the functions mcpgate runs, in the order the linker lays
# them out at the front of the executable's code (crates/mcpgate/build.rs hands the file to the
# linker as its symbol ordering). The kernel maps an executable's pages in runs (fault-around,
# the page cache's large folios), so code spread over the whole file makes nearly all of it
# resident; laid out together, what is resident is about what runs.
#
# Counted by callgrind with the build the image ships (`dist`): start-up, then serving —
# forwarded tool calls (a gateway federating rmcp-floor over HTTP, both eras downstream),
# mcpgate's own tools, resource reads and prompts, the workspace's REST API, the probes and
# metrics, refusals (no token, a bad one, an unknown tool), then the same in proxy mode
# (`serve --proxy`). The functions serving ran come first, hottest first, then those only
# start-up ran. Symbols the linker does not find are skipped, so a stale file costs only
# layout, never a build; run this again after a toolchain or dependency upgrade.
# Usage: scripts/hot_code.sh   (needs valgrind; several minutes)
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

load() { # era flags...: calls that must all be answered (a refusal runs other code)
  local era=$1 report
  shift
  report=$("$bench" --url "$url" --era "$era" --warmup 0 --token "$token" "$@" 2>&1) || true
  grep -q '"errors":{}' <<<"$report" || { echo "$name $era $*: calls failed: $report" >&2; exit 1; }
}

run() { # name args...: serve under callgrind, dump after start-up, load it, dump again
  local name=$1
  shift
  local out="$work/$name.out" url=http://127.0.0.1:8280/mcp token=dev:hot:acme:admin
  env MCPGATE_DATA_DIR="$work/data-$name" MCPGATE_AUTH=dev MCPGATE_LISTEN=127.0.0.1:8280 \
    MCPGATE_LOG_FORMAT=json MCPGATE_MODULES=system,workspace,conformance \
    MCPGATE_WORKSPACE_WRITE=true \
    valgrind --tool=callgrind --demangle=no --compress-strings=no \
    --callgrind-out-file="$out" "$mcpgate" "$@" 2>/dev/null &
  local pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "$url" && break; sleep 0.2; done
  callgrind_control -d "$pid" >/dev/null 2>&1
  mv "$(ls -t "$out".* | head -n 1)" "$work/$name.start"
  local tools=(health)
  [ "$name" = proxy ] || tools+=(floor__health)
  for era in modern legacy; do
    for tool in "${tools[@]}"; do
      for c in 1 16; do
        load "$era" --concurrency "$c" --requests 300 --tool "$tool"
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
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  mv "$(ls -t "$out".* | head -n 1)" "$work/$name.serve"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

MCPGATE_CONFIG="$work/gateway.toml" run gateway serve
MCPGATE_CONFIG="$work/proxy.toml" run proxy serve --proxy http://127.0.0.1:8291/mcp
python3 - "$work" crates/mcpgate/hot-code.txt <<'PY'
import collections, glob, re, sys

def costs(paths):
    """Instructions per function (its own, by symbol) over callgrind dumps."""
    total = collections.Counter()
    for path in paths:
        fn, inclusive = None, False
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("fn="):
                # A recursion level (`'2`) is the same function.
                fn, inclusive = line[3:].strip().split("'")[0], False
            elif line.startswith("calls="):
                inclusive = True  # the next cost line is the callee's, not fn's own
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if fn and not inclusive and len(parts) >= 2 and parts[1].isdigit():
                    total[fn] += int(parts[1])
                inclusive = False
    return total

def pattern(symbol):
    """The symbol with what a rebuild changes left open: each crate's hash (v0 `Cs<hash>_`,
    back references `B<offset>_`, legacy `17h<hash>E`) and LLVM's suffixes (`.llvm.N`, `.N`), a C compiler's clones."""
    if not symbol.startswith(("_R", "_ZN")):
        # A C function's clones (`.part.0`, `.constprop.0`, `.isra.0`, `.cold`).
        base, dot, _ = symbol.partition(".")
        return base + ".*" if dot else symbol
    symbol = re.sub(r"\.(llvm\.)?[0-9]+$", "", symbol)
    symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
    symbol = re.sub(r"B[0-9A-Za-z]*_", "B*_", symbol)
    symbol = re.sub(r"17h[0-9a-f]{16}E", "17h*E", symbol)
    return symbol + "*"

work, out = sys.argv[1], sys.argv[2]
serving = costs(glob.glob(f"{work}/*.serve"))
start = costs(glob.glob(f"{work}/*.start"))
# A symbol name, not an address callgrind could not name.
named = lambda f: not f.startswith("0x")
order, seen = [], set()
for part in (serving, start):
    for symbol, _ in part.most_common():
        p = pattern(symbol)
        if named(symbol) and p not in seen:
            seen.add(p)
            order.append(p)
    if part is serving:
        ran_serving = len(order)
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
print(f"{out}: {len(order)} functions ({ran_serving} run serving, the rest at start-up)")
PY
