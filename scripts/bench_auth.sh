#!/usr/bin/env bash
# The cost of authentication and rate limiting per call: mcpgate with auth `none` (no limits)
# against `token`, `jwt` with an HMAC secret and `jwt` with an RS256 key from a JWKS file (keys
# cached in memory), each of those with a per-caller rate limit far above the load (so every
# call is checked and none refused). Two measures:
#   1. instructions per request under callgrind (deterministic; 2,000 modern-era `tools/call
#      health` after 200 unmeasured ones, one client), and
#   2. calls/s at 16 clients, modes interleaved, repeated, medians.
# Usage: scripts/bench_auth.sh [seconds-per-run] [repeats]   (results: target/bench/auth.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
reps="${2:-3}"
root=$(pwd)
out="$root/target/bench"
mkdir -p "$out"
: >"$out/auth.jsonl"
cargo build --release --locked -p mcpgate -p mcpgate-bench >/dev/null 2>&1
bench="$root/target/release/mcpgate-bench"
work=$(mktemp -d)
trap 'pkill -9 -f "callgrind-out-file=$work" 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

secret="bench-jwt-secret-0123456789abcdef0123"
static_token="bench-static-token-0123456789"
fixtures="$root/crates/mcpgate/tests/fixtures/jwt"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
exp=$(($(date +%s) + 86400))
payload=$(printf '{"sub":"bench","org":"acme","roles":["viewer"],"iss":"https://issuer.bench","aud":"mcpgate-bench","exp":%d}' "$exp" | b64url)
hs_head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
hs_sig=$(printf '%s.%s' "$hs_head" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
hs_token="$hs_head.$payload.$hs_sig"
rs_head=$(printf '{"alg":"RS256","typ":"JWT","kid":"rsa-1"}' | b64url)
rs_sig=$(printf '%s.%s' "$rs_head" "$payload" | openssl dgst -sha256 -sign "$fixtures/rsa-private.pem" -binary | b64url)
rs_token="$rs_head.$payload.$rs_sig"

limit=(MCPGATE_RATE_LIMIT=1000000/min)
jwt=(MCPGATE_AUTH=jwt MCPGATE_JWT_ISSUER=https://issuer.bench MCPGATE_JWT_AUDIENCE=mcpgate-bench)
# mode → environment and token
mode_env() {
  case $1 in
    none) echo "MCPGATE_AUTH=none" ;;
    token) echo "MCPGATE_AUTH=token MCPGATE_AUTH_TOKEN=$static_token ${limit[*]}" ;;
    jwt-hs256) echo "${jwt[*]} MCPGATE_JWT_SECRET=$secret ${limit[*]}" ;;
    jwt-rs256) echo "${jwt[*]} MCPGATE_JWKS_FILE=$fixtures/jwks.json ${limit[*]}" ;;
  esac
}
mode_token() {
  case $1 in
    none) ;;
    token) echo "$static_token" ;;
    jwt-hs256) echo "$hs_token" ;;
    jwt-rs256) echo "$rs_token" ;;
  esac
}
modes=(none token jwt-hs256 jwt-rs256)

wait_up() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return; sleep 0.2; done; }

# 1. Instructions per request.
if command -v valgrind >/dev/null 2>&1; then
  for mode in "${modes[@]}"; do
    cg="$work/$mode.out"
    token=$(mode_token "$mode")
    targs=()
    [ -n "$token" ] && targs=(--token "$token")
    # shellcheck disable=SC2046
    env MCPGATE_DATA_DIR="$work/data-$mode" MCPGATE_LISTEN=127.0.0.1:8280 $(mode_env "$mode") \
      valgrind --tool=callgrind --callgrind-out-file="$cg" \
      "$root/target/release/mcpgate" serve 2>/dev/null &
    pid=$!
    wait_up http://127.0.0.1:8280/healthz
    "$bench" --url http://127.0.0.1:8280/mcp --concurrency 1 --requests 200 --warmup 0 "${targs[@]}" >/dev/null 2>&1
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$bench" --url http://127.0.0.1:8280/mcp --concurrency 1 --requests 2000 --warmup 0 "${targs[@]}" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    dump=$(ls -t "$cg".* | head -n 1)
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "{\"mode\":\"$mode\",\"instructions_per_request\":$((total / 2000))}" | tee -a "$out/auth.jsonl"
  done
fi

# 2. Calls/s, one server per mode, runs interleaved.
declare -A pids ports
port=8281
for mode in "${modes[@]}"; do
  # shellcheck disable=SC2046
  env MCPGATE_DATA_DIR="$work/load-$mode" MCPGATE_LISTEN=127.0.0.1:$port $(mode_env "$mode") \
    "$root/target/release/mcpgate" serve 2>/dev/null &
  pids[$mode]=$!
  ports[$mode]=$port
  wait_up "http://127.0.0.1:$port/healthz"
  port=$((port + 1))
done
for rep in $(seq 1 "$reps"); do
  for mode in "${modes[@]}"; do
    token=$(mode_token "$mode")
    targs=()
    [ -n "$token" ] && targs=(--token "$token")
    "$bench" --url "http://127.0.0.1:${ports[$mode]}/mcp" --concurrency 16 --duration "$secs" \
      --label "$mode" --server-pid "${pids[$mode]}" "${targs[@]}" >>"$out/auth.jsonl"
  done
  echo "done: repeat $rep" >&2
done
python3 - "$out/auth.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ins = {r["mode"]: r["instructions_per_request"] for r in rows if "instructions_per_request" in r}
load = {}
for r in rows:
    if "calls_per_s" in r:
        load.setdefault(r["label"], []).append(r)
base_ins = ins.get("none")
base = statistics.median(r["calls_per_s"] for r in load["none"])
print("| mode | instructions/request | ratio to none | calls/s (median) | ratio to none | p50 ms | p95 ms | errors |")
print("|---|---|---|---|---|---|---|---|")
for mode in ("none", "token", "jwt-hs256", "jwt-rs256"):
    runs = load.get(mode, [])
    cps = statistics.median(r["calls_per_s"] for r in runs)
    p50 = statistics.median(r["latency_ms"]["p50"] for r in runs) if runs and "latency_ms" in runs[0] else float("nan")
    p95 = statistics.median(r["latency_ms"]["p95"] for r in runs) if runs and "latency_ms" in runs[0] else float("nan")
    errs = sum(sum(r.get("errors", {}).values()) if isinstance(r.get("errors"), dict) else 0 for r in runs)
    i = ins.get(mode)
    iratio = f"{i / base_ins:.3f}" if i and base_ins else "-"
    print(f"| {mode} | {i if i else '-':,} | {iratio} | {cps:,.0f} | {cps / base:.3f} | {p50:.2f} | {p95:.2f} | {errs} |")
EOF
