#!/usr/bin/env bash
# The deploy/compose.yaml topology, started from the host's own binaries and Debian's packages
# so it runs where containers cannot: PostgreSQL and Redis (the machine's services), a one-shot
# `mcpgate migrate`, two mcpgate replicas, and HAProxy with deploy/haproxy.cfg in front.
#
# Checks, through the load balancer:
#   - the official Python SDK client walks the workspace (create, comment, search, fetch,
#     complete, archive) in the modern era, spread over both replicas, and in a legacy session;
#   - a legacy session shared by the replicas (MCPGATE_SESSION_STORE=redis, no stickiness in
#     the balancer): the Python SDK client calls tools in one session for 30 s, its requests
#     alternating between the replicas; then again while replica 1 is killed with SIGKILL
#     halfway, and the session continues on replica 2 (failed calls counted and reported);
#   - a write on one replica is read on the other (one shared PostgreSQL);
#   - a rolling restart under load: replica 1 gets SIGTERM, leaves the rotation through
#     /readyz (MCPGATE_SHUTDOWN_DELAY), drains and exits 0, comes back; then replica 2 the
#     same. No request through the balancer fails.
#
# Usage: scripts/topology-test.sh   (installs HAProxy from Debian's packages when missing; needs
# PostgreSQL at MCPGATE_TEST_DATABASE_URL and Redis at MCPGATE_TEST_REDIS_URL)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

admin_url=${MCPGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${MCPGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}
python=$root/target/test-clients/venv/bin/python
client=$root/crates/mcpgate/tests/clients/python/sdk_client.py
token=topology-test-token-0123456789abcdef
database=mcpgate_topology_$$
work=$(mktemp -d)
declare -A pid
lb=

cleanup() {
  # (`|| true`: under `set -e` a killed process's status would end the trap, and the script.)
  for p in "${pid[@]}" $lb; do kill -KILL "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
  psql "$admin_url" -q -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n--> %s\n' "$*"; }
fail() {
  echo "topology-test: FAILED: $*" >&2
  for log in "$work"/*.log; do echo "--- $log (end)" >&2; tail -n 15 "$log" >&2; done
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

command -v haproxy >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null ||
  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null; }
[ -x "$python" ] || scripts/install-test-clients.sh >/dev/null
cargo build --locked -p mcpgate >/dev/null 2>&1 || fail "mcpgate did not build"
bin=$root/target/debug/mcpgate

step "PostgreSQL database $database, Redis at $redis_url"
psql "$admin_url" -q -c "CREATE DATABASE $database" >/dev/null || fail "cannot create the database"
database_url="${admin_url%/*}/$database"
export MCPGATE_DATABASE_URL=$database_url MCPGATE_REDIS_URL=$redis_url MCPGATE_SESSION_STORE=redis
export MCPGATE_AUTH=token MCPGATE_AUTH_TOKEN=$token MCPGATE_DEFAULT_ROLE=editor
export MCPGATE_WORKSPACE_WRITE=true MCPGATE_TRUSTED_PROXIES=127.0.0.1 MCPGATE_SHUTDOWN_DELAY=3s
export MCPGATE_RATE_LIMIT=100000/min MCPGATE_RATE_LIMIT_PREFIX="topology-$$:"
export MCPGATE_LOG_FORMAT=json MCPGATE_DATA_DIR=$work

step "migrate (the one-shot job), then two replicas and HAProxy"
"$bin" migrate || fail "migrate failed"
declare -A port admin
for r in 1 2; do port[$r]=$(free_port); admin[$r]=$(free_port); done
lb_port=$(free_port)

start_replica() {
  local r=$1
  MCPGATE_LISTEN=127.0.0.1:${port[$r]} MCPGATE_ADMIN_LISTEN=127.0.0.1:${admin[$r]} \
    "$bin" serve >>"$work/replica-$r.log" 2>&1 &
  pid[$r]=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${port[$r]}/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "replica $r did not become ready"
}
start_replica 1
start_replica 2
LB_BIND=127.0.0.1:$lb_port MCPGATE_1=127.0.0.1:${port[1]} MCPGATE_2=127.0.0.1:${port[2]} \
  haproxy -W -db -f deploy/haproxy.cfg >"$work/haproxy.log" 2>&1 &
lb=$!
url=http://localhost:$lb_port/mcp
for _ in $(seq 1 100); do curl -fsS "http://localhost:$lb_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2.5 # both servers pass their first checks (rise 2, inter 1s)

# Tool calls each replica has answered, from its admin listener's metrics.
calls_on() {
  curl -fsS "http://127.0.0.1:${admin[$1]}/metrics" |
    awk '/^mcpgate_mcp_requests_total\{method="tools\/call"\}/ {print $2}' | head -n 1
}

step "the Python SDK client through the balancer: modern era, spread over both replicas"
before1=$(calls_on 1); before2=$(calls_on 2)
for _ in 1 2; do
  "$python" "$client" --transport http --era modern --url "$url" --token "$token" \
    --scenario workspace-walk >"$work/modern.out" 2>>"$work/client.log" || fail "the modern walk failed"
done
after1=$(calls_on 1); after2=$(calls_on 2)
echo "tools/call answered: replica 1 $((${after1:-0} - ${before1:-0})), replica 2 $((${after2:-0} - ${before2:-0}))"
[ $((${after1:-0} - ${before1:-0})) -gt 0 ] && [ $((${after2:-0} - ${before2:-0})) -gt 0 ] ||
  fail "the modern calls were not spread over both replicas"

step "a legacy session through the balancer (shared by the replicas)"
"$python" "$client" --transport http --era legacy --url "$url" --token "$token" \
  --scenario workspace-walk >"$work/legacy.out" 2>>"$work/client.log" || fail "the legacy walk failed"
echo "legacy workspace walk passed"

step "one legacy session for 30 s, its requests alternating between the replicas"
before1=$(calls_on 1); before2=$(calls_on 2)
"$python" "$client" --transport http --era legacy --url "$url" --token "$token" \
  --scenario soak --seconds "${SOAK_SECONDS:-30}" >"$work/soak.out" 2>>"$work/client.log" || fail "the soak client failed"
after1=$(calls_on 1); after2=$(calls_on 2)
soak=$(cat "$work/soak.out")
echo "tools/call answered: replica 1 $((${after1:-0} - ${before1:-0})), replica 2 $((${after2:-0} - ${before2:-0}))"
python3 - "$soak" <<'PY' || fail "the shared session did not hold: $soak"
import json, sys
s = json.loads(sys.argv[1])
print(f"{s['calls']} calls in {s['seconds']} s, {len(s['failed'])} failed, p50 {s['p50_ms']} ms, "
      f"p99 {s['p99_ms']} ms, session ids used {s['session_ids_used']}")
sys.exit(0 if not s["failed"] and s["session_ids_used"] == 1 and s["ok"] > 100 else 1)
PY
[ $((${after1:-0} - ${before1:-0})) -gt 50 ] && [ $((${after2:-0} - ${before2:-0})) -gt 50 ] ||
  fail "the session's calls did not alternate between the replicas"

step "the same session while replica 1 is killed with SIGKILL halfway: it continues on replica 2"
"$python" "$client" --transport http --era legacy --url "$url" --token "$token" \
  --scenario soak --seconds "${SOAK_SECONDS:-30}" >"$work/kill.out" 2>>"$work/client.log" &
soaker=$!
sleep "$(( ${SOAK_SECONDS:-30} / 2 ))"
kill -KILL "${pid[1]}"; wait "${pid[1]}" 2>/dev/null || true
echo "replica 1 killed"
wait "$soaker" || fail "the soak client failed"
kill_result=$(cat "$work/kill.out")
python3 - "$kill_result" <<'PY' || fail "the session did not survive the kill: $kill_result"
import json, sys
s = json.loads(sys.argv[1])
print(f"{s['calls']} calls in {s['seconds']} s, {len(s['failed'])} failed, p50 {s['p50_ms']} ms, "
      f"p99 {s['p99_ms']} ms, max {s['max_ms']} ms, session ids used {s['session_ids_used']}")
for f in s["failed"]:
    print(f"  failed at {f['at_s']} s after {f['ms']} ms: {f['tool']}: {f['error']}")
# At most the call in flight on the killed replica fails; the session is never lost.
sys.exit(0 if len(s["failed"]) <= 1 and s["session_ids_used"] == 1 and s["ok"] > 100 else 1)
PY
start_replica 1
sleep 3 # back in the rotation (rise 2, inter 1s)

step "a write on one replica is read on the other"
note=$(curl -fsS -X POST "http://127.0.0.1:${port[1]}/api/v1/notes" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"title":"shared","body":"written on replica 1"}')
id=$(echo "$note" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS "http://127.0.0.1:${port[2]}/api/v1/notes/$id" -H "authorization: Bearer $token" | grep -q '"shared"' ||
  fail "replica 2 does not see replica 1's note"
echo "note $id written on replica 1, read on replica 2"

step "rolling restart under load: no request through the balancer fails"
python3 - "$lb_port" "$token" >"$work/load.out" 2>>"$work/client.log" <<'PY' &
import http.client, json, sys, threading, time
port, token = int(sys.argv[1]), sys.argv[2]
stop = time.time() + 24
counts = {"ok": 0, "failed": 0}
lock = threading.Lock()
def worker():
    conn = None
    while time.time() < stop:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("localhost", port, timeout=10)
            conn.request("GET", "/api/v1/notes?limit=5", headers={"authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
            if response.getheader("connection", "").lower() == "close":
                conn.close(); conn = None
        except Exception as e:  # a reset or refused connection is a failed request
            ok = False
            print(f"request failed: {e!r}", file=sys.stderr)
            conn = None
        with lock:
            counts["ok" if ok else "failed"] += 1
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(counts))
PY
load=$!
sleep 2
for r in 1 2; do
  started=$(date +%s%N)
  kill -TERM "${pid[$r]}"
  wait "${pid[$r]}" || fail "replica $r did not exit 0 after SIGTERM"
  echo "replica $r drained and exited 0 in $((($(date +%s%N) - started) / 1000000)) ms"
  start_replica "$r"
  sleep 3 # back in the rotation (rise 2, inter 1s)
done
wait "$load" || fail "the load generator failed"
result=$(cat "$work/load.out")
echo "requests through the balancer: $result"
python3 -c 'import json,sys; c=json.loads(sys.argv[1]); sys.exit(0 if c["failed"] == 0 and c["ok"] > 100 else 1)' "$result" ||
  fail "requests failed during the rolling restart: $result"

echo
echo "topology-test: all checks passed"
