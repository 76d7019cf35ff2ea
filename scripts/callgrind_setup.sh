# Sourced by the scripts that run mcpgate under callgrind (bench_instructions.sh, hot_code.sh),
# from the repository's root, with the build profile as its argument: builds mcpgate alone, as
# the image builds it (built together with the bench, the bench's features would reach its
# dependencies), then the bench; sets `root`, `bench`, `mcpgate` (MCPGATE_BIN overrides it),
# a scratch directory `work`, and `upstreams` (PIDs the scripts start), all cleaned up on exit.
profile=$1
cargo build --profile "$profile" --locked -p mcpgate-bench >/dev/null 2>&1
cargo build --profile "$profile" --locked -p mcpgate >/dev/null 2>&1
root=$(pwd)
bench="$root/target/$profile/mcpgate-bench"
mcpgate="${MCPGATE_BIN:-$root/target/$profile/mcpgate}"
work=$(mktemp -d)
upstreams=""
trap 'pkill -9 -f "callgrind-out-file=$work" 2>/dev/null || true; [ -z "$upstreams" ] || kill $upstreams 2>/dev/null || true; rm -rf "$work"' EXIT
