#!/usr/bin/env bash
# Build the container image from ./Dockerfile and run it as a user would, checking that:
#   - the image is configured as documented (user 10001, tini entrypoint, /data volume, port
#     8080, a HEALTHCHECK, OCI labels), and how large it is;
#   - without an auth backend it refuses to listen on 0.0.0.0 (exit 64, saying why);
#   - mcpgate runs as uid/gid 10001 under tini, /healthz answers, the HEALTHCHECK command passes;
#   - SIGTERM to tini drains mcpgate, which exits 0 within its grace;
#   - what was written survives a restart on the same /data volume.
#
# Docker Hub is out of reach here, so the base images are made locally and passed as build
# arguments: debian:bookworm-slim from debootstrap (minbase, the machine's Debian mirror), and
# rust:<version>-slim-bookworm as that plus gcc and this machine's own Rust toolchain and CA
# certificates. Containers run with `buildah run --isolation chroot` on the host network
# (`podman run` cannot set up cgroups in this kind of VM); chroot isolation has no PID
# namespace, so tini is checked as mcpgate's parent rather than as PID 1.
#
# Where images cannot be built at all, the script says exactly why and runs the same checks on
# the host binary, started the same way (tini, uid 10001, a data directory as the volume).
#
# Usage: scripts/container-test.sh   (as root; installs podman, buildah, debootstrap and tini
# from Debian's packages when missing; MCPGATE_CONTAINER_TEST=host runs the host-binary checks)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

image=localhost/mcpgate:test
debian_image=localhost/debian:bookworm-slim
rust_version=$(rustc --version | awk '{print $2}')
rust_image="localhost/rust:${rust_version%.*}-slim-bookworm"
grace=10
token=container-test-token-0123456789abcdef
work=$(mktemp -d)
pids=()
containers=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # A server still running after a failed step: killing `buildah run` leaves its tini and
  # mcpgate behind, holding the port.
  if [ -n "${port:-}" ]; then
    for pid in $(our_tinis); do
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  for ctr in "${containers[@]}"; do buildah rm "$ctr" >/dev/null 2>&1 || true; done
  # Containers made in subshells (the servers run in the background) are not in the list.
  if command -v buildah >/dev/null 2>&1; then
    buildah containers --format '{{.ContainerID}} {{.ImageName}}' 2>/dev/null |
      awk -v image="$image" '$2 == image {print $1}' | xargs -r buildah rm >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n--> %s\n' "$*"; }
fail() { echo "container-test: FAILED: $*" >&2; [ -f "$work/server.log" ] && tail -n 30 "$work/server.log" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

install() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# The first Debian mirror apt uses on this machine.
debian_mirror() {
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
    grep -v security | head -n 1
}

# Local stand-ins for the public base images (kept between runs on this machine).
make_base_images() {
  if ! podman image exists "$debian_image"; then
    step "base image $debian_image (debootstrap --variant=minbase bookworm)"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$(debian_mirror)" >"$work/debootstrap.log" 2>&1 ||
      { tail -n 20 "$work/debootstrap.log" >&2; return 1; }
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*
    tar -C "$work/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$debian_image" >/dev/null
    rm -rf "$work/rootfs"
  fi
  if ! podman image exists "$rust_image"; then
    step "build image $rust_image (gcc, this machine's Rust $rust_version and CA certificates)"
    local ctr sysroot
    ctr=$(buildah from "$debian_image")
    containers+=("$ctr")
    sysroot=$(rustc --print sysroot)
    buildah run --isolation chroot "$ctr" -- sh -c \
      'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*'
    buildah copy "$ctr" "$sysroot/bin" /usr/local/rust/bin >/dev/null
    buildah copy "$ctr" "$sysroot/lib" /usr/local/rust/lib >/dev/null
    # Registries reached through a proxy with its own CA need it inside the build too.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
      buildah copy "$ctr" /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/ >/dev/null
      buildah run --isolation chroot "$ctr" -- update-ca-certificates >/dev/null
    fi
    buildah config \
      --env PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env CARGO_HOME=/usr/local/cargo "$ctr"
    buildah commit -q "$ctr" "$rust_image" >/dev/null
  fi
}

# Why images cannot be built here, or nothing.
cannot_build() {
  install podman buildah debootstrap || { echo "podman, buildah and debootstrap cannot be installed"; return; }
  buildah info >/dev/null 2>"$work/buildah-info.err" || { echo "buildah cannot use its storage: $(head -n 3 "$work/buildah-info.err")"; return; }
  local ctr
  make_base_images >"$work/bases.log" 2>&1 || { echo "the local base images cannot be made: $(tail -n 5 "$work/bases.log")"; return; }
  ctr=$(buildah from "$debian_image" 2>"$work/from.err") || { echo "buildah from fails: $(head -n 3 "$work/from.err")"; return; }
  buildah run --isolation chroot "$ctr" -- true 2>"$work/run.err" || { buildah rm "$ctr" >/dev/null; echo "buildah run fails: $(head -n 3 "$work/run.err")"; return; }
  buildah rm "$ctr" >/dev/null
}

mode=image
if [ "${MCPGATE_CONTAINER_TEST:-}" = host ]; then
  reason="MCPGATE_CONTAINER_TEST=host asks for the host binary"
else
  reason=$(cannot_build)
fi
if [ -n "$reason" ]; then
  mode=host
  echo "container-test: cannot build or run images on this machine: $reason"
  echo "container-test: running the same checks on the host binary instead"
fi

if [ "$mode" = image ]; then
  step "build $image (buildah bud, chroot isolation)"
  started=$(date +%s)
  buildah bud --isolation chroot --format docker --layers \
    --build-arg RUST_IMAGE="$rust_image" --build-arg RUNTIME_IMAGE="$debian_image" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$image" . >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "the image did not build"; }
  echo "built in $(($(date +%s) - started)) s"

  step "image configuration"
  size=$(podman image inspect "$image" --format '{{.Size}}')
  echo "size: $size bytes ($((size / 1024 / 1024)) MiB); runtime base $(podman image inspect "$debian_image" --format '{{.Size}}') bytes"
  buildah inspect --type image "$image" | python3 -c '
import json, sys
config = json.load(sys.stdin)["Docker"]["config"]
expected = {
    "User": "10001:10001",
    "Entrypoint": ["/usr/bin/tini", "--", "mcpgate"],
    "Cmd": ["serve"],
    "Volumes": {"/data": {}},
    "ExposedPorts": {"8080/tcp": {}},
    "StopSignal": "SIGTERM",
}
problems = [f"{key}: {config.get(key)!r}, expected {want!r}" for key, want in expected.items() if config.get(key) != want]
healthcheck = config.get("Healthcheck") or {}
if healthcheck.get("Test") != ["CMD", "mcpgate", "health", "--timeout", "4s"]:
    problems.append(f"Healthcheck: {healthcheck!r}")
labels = config.get("Labels") or {}
problems += [f"label {name} missing" for name in ("title", "version", "revision", "source", "licenses") if f"org.opencontainers.image.{name}" not in labels]
if problems:
    sys.exit("image configuration: " + "; ".join(problems))
print("user 10001:10001, entrypoint tini, volume /data, port 8080, HEALTHCHECK mcpgate health, OCI labels")
' || fail "the image is not configured as documented"

  step "code layout of the shipped executable"
  # The functions mcpgate runs lie together at the front of its code (crates/mcpgate/build.rs):
  # the section exists and holds them, or a change of toolchain or build lost the layout.
  ctr=$(buildah from "$image")
  containers+=("$ctr")
  layout=$(objdump -h "$(buildah mount "$ctr")/usr/local/bin/mcpgate" |
    awk '$2 == ".text.mcpgate_runs" {print $3}')
  layout=$((16#${layout:-0}))
  [ "$layout" -ge $((1024 * 1024)) ] ||
    fail "the executable has no laid-out code section (.text.mcpgate_runs: $layout bytes)"
  echo ".text.mcpgate_runs: $((layout / 1024)) KiB"
else
  install tini
  cargo build --release --locked -p mcpgate >/dev/null 2>&1 || fail "the host binary did not build"
  bin_dir=$work/bin
  mkdir -p "$bin_dir" && cp target/release/mcpgate "$bin_dir/" && chmod 755 "$work" "$bin_dir"
fi

data=$work/data
mkdir -p "$data" && chown 10001:10001 "$data" && chmod 755 "$work"
port=$(free_port)
admin_port=$(free_port)
env_args=(
  MCPGATE_LISTEN=0.0.0.0:$port
  MCPGATE_ADMIN_LISTEN=127.0.0.1:$admin_port
  MCPGATE_AUTH=token
  MCPGATE_AUTH_TOKEN=$token
  MCPGATE_SHUTDOWN_GRACE=${grace}s
  MCPGATE_WORKSPACE_WRITE=true
  MCPGATE_DEFAULT_ROLE=editor
)

# Run a command in a fresh container of the image (or on the host, as uid 10001 with the same
# environment), with the data volume; extra `NAME=value` arguments before `--` go to its env.
run_in() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  if [ "$mode" = image ]; then
    local ctr env_flags=()
    ctr=$(buildah from "$image")
    containers+=("$ctr")
    # `buildah run` puts a scratch directory over each of the image's VOLUMEs, whatever `-v`
    # says; unlisted in this working container, /data is the host directory, as a
    # `docker run -v` volume would be.
    buildah config --volume /data- "$ctr"
    for e in "${envs[@]}"; do env_flags+=(-e "$e"); done
    buildah run --isolation chroot -v "$data:/data:rw" "${env_flags[@]}" "$ctr" -- "$@"
  else
    (cd "$data" && exec setpriv --reuid=10001 --regid=10001 --clear-groups \
      env -i PATH="$bin_dir:/usr/bin:/bin" MCPGATE_DATA_DIR="$data" MCPGATE_LOG_FORMAT=json "${envs[@]}" "$@")
  fi
}

start_server() {
  run_in "${env_args[@]}" -- /usr/bin/tini -- mcpgate serve >>"$work/server.log" 2>&1 &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$server" 2>/dev/null || fail "mcpgate exited at start"
    sleep 0.2
  done
  fail "/healthz did not answer in 20 s"
}

# The tini processes serving on our port (by their environment: `buildah run`'s own command
# line names tini and mcpgate too), in any order of process ids (they wrap around).
our_tinis() {
  local pid
  for pid in $(pgrep -x tini || true); do
    if grep -q "MCPGATE_LISTEN=0.0.0.0:$port" "/proc/$pid/environ" 2>/dev/null; then echo "$pid"; fi
  done
}

# The tini process serving on our port, and its mcpgate child.
find_processes() {
  tini_pid=$(our_tinis)
  tini_pid=${tini_pid%%$'\n'*}
  [ -n "$tini_pid" ] || fail "no tini process found"
  mcpgate_pid=$(pgrep -P "$tini_pid" -x mcpgate || true)
  mcpgate_pid=${mcpgate_pid%%$'\n'*}
  [ -n "$mcpgate_pid" ] || fail "tini has no mcpgate child"
}

step "refuses to listen on 0.0.0.0 without an auth backend"
set +e
refusal=$(run_in MCPGATE_LISTEN=0.0.0.0:$port MCPGATE_ADMIN_LISTEN=off -- /usr/bin/tini -- mcpgate serve 2>&1)
code=$?
set -e
[ "$code" = 64 ] || fail "expected exit 64 without auth, got $code: $refusal"
echo "$refusal" | grep -q "MCPGATE_ALLOW_UNAUTHENTICATED" || fail "the refusal does not say what to set: $refusal"
echo "exit 64: $(echo "$refusal" | grep -o 'refusing to serve [^ ]* without authentication' | head -n 1)"

step "runs as 10001 under tini; /healthz and the HEALTHCHECK command answer"
start_server
find_processes
uid=$(awk '/^Uid:/ {print $2}' "/proc/$mcpgate_pid/status")
gid=$(awk '/^Gid:/ {print $2}' "/proc/$mcpgate_pid/status")
[ "$uid" = 10001 ] && [ "$gid" = 10001 ] || fail "mcpgate runs as uid $uid gid $gid"
[ "$(cat "/proc/$tini_pid/comm")" = tini ] || fail "mcpgate's parent is not tini"
echo "mcpgate pid $mcpgate_pid: uid $uid gid $gid, parent tini (pid $tini_pid)"
curl -fsS "http://127.0.0.1:$port/healthz"; echo
run_in "${env_args[@]}" -- mcpgate health --timeout 4s || fail "the HEALTHCHECK command failed"
run_in "${env_args[@]}" -- mcpgate health --ready --timeout 4s || fail "mcpgate health --ready failed"

step "writes to the /data volume"
note=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/notes" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"title":"kept across restarts","body":"written before SIGTERM"}')
note_id=$(echo "$note" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "note $note_id created"

step "SIGTERM to tini drains mcpgate, which exits 0 within the grace (${grace} s)"
started=$(date +%s%N)
kill -TERM "$tini_pid"
set +e
wait "$server"
code=$?
set -e
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$elapsed_ms" -lt $((grace * 1000)) ] || fail "took ${elapsed_ms} ms, over the grace"
grep -q '"shutdown complete"' "$work/server.log" || fail "no 'shutdown complete' in the log"
echo "exit 0 after ${elapsed_ms} ms"

if [ "$mode" = image ]; then
  step "nothing was written outside /data (a read-only root filesystem works)"
  for ctr in $(buildah containers --format '{{.ContainerID}} {{.ImageName}}' | awk -v image="$image" '$2 == image {print $1}'); do
    merged=$(buildah mount "$ctr")
    # The container's own layer; `buildah run` itself makes /run.
    written=$(cd "${merged%/merged}/diff" && find . -mindepth 1 ! -path ./run ! -path './run/*' | head -n 5)
    buildah umount "$ctr" >/dev/null
    [ -z "$written" ] || fail "container $ctr wrote outside /data: $written"
  done
  echo "the containers' own layers hold nothing but /run (made by buildah run)"
fi

step "the data survives a restart on the same volume"
start_server
got=$(curl -fsS "http://127.0.0.1:$port/api/v1/notes/$note_id" -H "authorization: Bearer $token")
echo "$got" | grep -q '"kept across restarts"' || fail "the note is gone after the restart: $got"
echo "note $note_id read back after the restart"
find_processes
kill -TERM "$tini_pid"
wait "$server" || fail "the second run did not exit 0"

echo
echo "container-test: all checks passed ($mode mode)"
