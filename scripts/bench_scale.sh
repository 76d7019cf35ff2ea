#!/usr/bin/env bash
# Per-tool costs at several data sizes, on SQLite and PostgreSQL. For each backend and size: a
# fresh database seeded straight through mcpgate's store with `mcpgate-bench seed --records N`
# (Zipf-distributed words, tags, statuses, five orgs; 80% of the records in `acme`), then
# mcpgate serves it (release build, whole edge on: dev-token auth, metrics, JSON logs at info;
# workspace writes on) and every call below runs alone, 4 clients in a closed loop as an
# `acme` editor, for SECONDS after 1 s of warm-up. Each line records calls/s, latency, mcpgate's
# CPU per call from /proc and, on PostgreSQL, the CPU the postgres processes spent per call
# over the same run (warm-up included, so approximate). After the calls, the 50-client mixed
# workspace scenario runs on the same data (its usual 500 tasks, 200 notes and 300 comments
# added through the tools for its reads and writes; MIX seconds, MIX=0 skips it), with the
# server's memory split into anonymous and file-mapped.
#
# Usage: scripts/bench_scale.sh [sizes] [backends] [seconds]
#   sizes     records to seed (default "1000 100000 1000000")
#   backends  "sqlite postgres" (default), or one of them
#   seconds   measured window per call (default 4)
# Env: MIX (default 20), MCPGATE_BENCH_PG (default postgres://postgres@127.0.0.1:5432).
# Results: target/bench/scale.jsonl (one line per call: "size", "backend", "call", then the
#   load report), target/bench/scale-seed.jsonl; the table: scripts/bench_scale_summary.py.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-1000 100000 1000000}"
backends="${2:-sqlite postgres}"
secs="${3:-4}"
mix="${MIX:-20}"
pg="${MCPGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
port=8086
out=target/bench
mkdir -p "$out"
: >"$out/scale.jsonl"
: >"$out/scale-seed.jsonl"

if ! cargo build --release --locked -p mcpgate -p mcpgate-bench >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi
bench=target/release/mcpgate-bench
token=dev:bench:acme:editor

server="" data="" db="" analyzer=""
stop_analyzer() {
  if [ -n "$analyzer" ]; then
    kill "$analyzer" 2>/dev/null || true
    wait "$analyzer" 2>/dev/null || true
  fi
  analyzer=""
}
cleanup() {
  stop_analyzer
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

# CPU ticks (user + system) of every postgres process.
pg_ticks() {
  local total=0 pid
  for pid in $(pgrep -x postgres || true); do
    # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
    total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# One MCP call as acme's editor, its structuredContent on stdout.
call() { # tool arguments-json
  curl -s "http://127.0.0.1:$port/mcp" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H "Mcp-Name: $1" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientInfo\":{\"name\":\"bench\",\"version\":\"1\"},\"io.modelcontextprotocol/clientCapabilities\":{}}}}" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]["structuredContent"]))'
}

measure() { # backend size name tool arguments-json
  local before after line
  before=$(pg_ticks)
  line=$("$bench" --url "http://127.0.0.1:$port/mcp" --era modern --concurrency 4 \
    --duration "$secs" --warmup 1 --token "$token" --tool "$4" --args "$5" \
    --server-pid "$server")
  after=$(pg_ticks)
  python3 - "$1" "$2" "$3" "$((after - before))" "$(getconf CLK_TCK)" "$line" >>"$out/scale.jsonl" <<'PY'
import json, sys
backend, size, name, ticks, hz, line = sys.argv[1:]
report = json.loads(line)
calls = report["requests"] or 1
row = {"backend": backend, "size": int(size), "call": name}
if backend == "postgres":
    row["postgres_cpu_us_per_call"] = round(int(ticks) / int(hz) * 1e6 / calls, 1)
row.update(report)
print(json.dumps(row))
PY
}

run() { # backend size
  local backend=$1 size=$2 url
  data=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    db="mcpgate_scale_$$_$size"
    psql "$pg/postgres" -qc "create database $db"
    url="$pg/$db"
  else
    url="sqlite://$data/mcpgate.db"
  fi
  echo "seeding $size records ($backend)" >&2
  # SQLite has one writer at a time: two keep it busy.
  local writers=2
  if [ "$backend" = postgres ]; then
    writers=4
    # Analyze as autovacuum would while the tables grow (this machine's server runs without
    # it): plans cached while they were small stayed, and seeding a million records fell from
    # ~1,100 to ~380 records/s until an ANALYZE at 560,000 brought it back to ~1,300.
    (while sleep 60; do psql "$url" -qc "analyze records, record_words, record_tags" || true; done) \
      >/dev/null 2>&1 &
    analyzer=$!
  fi
  "$bench" seed --records "$size" --database "$url" --writers "$writers" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); r.update(backend=sys.argv[1], size=int(sys.argv[2])); print(json.dumps(r))' \
      "$backend" "$size" >>"$out/scale-seed.jsonl"
  if [ "$backend" = postgres ]; then
    stop_analyzer
    # What autovacuum would have done by the time a real workspace got this large.
    psql "$url" -qc "vacuum analyze" >/dev/null
  fi
  env MCPGATE_DATA_DIR="$data" MCPGATE_DATABASE_URL="$url" MCPGATE_AUTH=dev \
    MCPGATE_WORKSPACE_WRITE=true MCPGATE_LISTEN="127.0.0.1:$port" MCPGATE_LOG=info \
    MCPGATE_LOG_FORMAT=json target/release/mcpgate serve 2>"$out/scale-$backend-$size.log" &
  server=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
    sleep 0.1
  done
  local task note common middling rare
  task=$(call list_tasks '{"limit":1}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  note=$(call list_notes '{"limit":1}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
  read -r common middling rare < <(tail -n 1 "$out/scale-seed.jsonl" | python3 -c '
import json, sys
words = {w["rank"]: w["word"] for w in json.load(sys.stdin)["words"]}
print(words[2], words[1000], words[40000])')
  measure "$backend" "$size" health health '{}'
  measure "$backend" "$size" get_task get_task "{\"id\":\"$task\"}"
  measure "$backend" "$size" get_note get_note "{\"id\":\"$note\"}"
  measure "$backend" "$size" fetch fetch "{\"id\":\"$task\"}"
  measure "$backend" "$size" 'list_tasks {}' list_tasks '{}'
  measure "$backend" "$size" 'list_tasks status' list_tasks '{"status":"cancelled"}'
  measure "$backend" "$size" 'list_tasks tag' list_tasks '{"tag":"security"}'
  measure "$backend" "$size" 'list_tasks status+tag, by title' list_tasks '{"status":"done","tag":"ops","sort":"title"}'
  measure "$backend" "$size" 'list_notes {}' list_notes '{}'
  measure "$backend" "$size" "list_comments on a task" list_comments "{\"target_id\":\"$task\"}"
  measure "$backend" "$size" 'search: the (every record)' search '{"query":"the"}'
  measure "$backend" "$size" "search: $common (rank 2)" search "{\"query\":\"$common\"}"
  measure "$backend" "$size" "search: $middling (rank 1,000)" search "{\"query\":\"$middling\"}"
  measure "$backend" "$size" "search: $rare (rank 40,000)" search "{\"query\":\"$rare\"}"
  measure "$backend" "$size" 'search: zzzz (no record)' search '{"query":"zzzz"}'
  if [ "$mix" != 0 ]; then
    "$bench" workspace --url "http://127.0.0.1:$port/mcp" --token "$token" --concurrency 50 \
      --duration "$mix" --warmup 3 --label "$backend" --server-pid "$server" 2>/dev/null |
      python3 -c '
import json, re, sys
r = json.load(sys.stdin)
r.update(backend=sys.argv[1], size=int(sys.argv[2]), call="mix")
# After the run: file-backed pages as RSS counts them (once per mapping) and as PSS does
# (a page mapped twice in the process counts once), and how many maps of the database exist.
rollup = open(f"/proc/{sys.argv[3]}/smaps_rollup").read()
kib = lambda key: int(re.search(rf"^{key}:\s+(\d+)", rollup, re.M).group(1))
r.update(rss_file_after_kib=kib("Rss") - kib("Anonymous"), pss_file_after_kib=kib("Pss_File"))
maps = open(f"/proc/{sys.argv[3]}/maps").read().splitlines()
r["database_maps"] = sum(1 for line in maps if line.endswith("mcpgate.db"))
print(json.dumps(r))' "$backend" "$size" "$server" >>"$out/scale.jsonl" || true
  fi
  cleanup
  echo "done: $backend $size" >&2
}

for size in $sizes; do
  for backend in $backends; do
    run "$backend" "$size"
  done
done
python3 scripts/bench_scale_summary.py "$out/scale.jsonl"
