#!/usr/bin/env bash
# Install the official MCP SDK clients that crates/mcpgate/tests/it/sdk_clients.rs drives the real
# mcpgate binary with, and the OpenAPI validator crates/mcpgate/tests/it/rest.rs checks
# /openapi.json with:
#   - Python: a venv at target/test-clients/venv with the pinned `mcp` from
#     crates/mcpgate/tests/clients/python/requirements.txt
#   - Node:   `npm ci` in crates/mcpgate/tests/clients/ts (package-lock.json is committed)
#   - OpenAPI: a venv at target/test-clients/openapi-venv with the pinned `openapi-spec-validator`
#     (pins below, dependency tree included; its own venv so they cannot disturb the SDK's)
#
# Needs only python3 (>= 3.10, with pip) and node (>= 20) with npm. Idempotent: a component whose
# pinned inputs have not changed since its last successful install is skipped. Silent on success;
# on failure it prints the failing step's output and exits non-zero.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients="$root/crates/mcpgate/tests/clients"
requirements="$clients/python/requirements.txt"
ts_dir="$clients/ts"
tools_dir="$root/target/test-clients"
venv="$tools_dir/venv"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

die() {
    echo "install-test-clients: $*" >&2
    exit 1
}

# Run a step with its output captured; show the output only if it fails.
quietly() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "install-test-clients: $what failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}

# A digest of stdin: the stamp of what an install was made from.
digest() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

# --- Python -------------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
    die "python3 >= 3.10 is required (found $(python3 --version 2>&1))"

# A fresh venv at $1.
make_venv() {
    local dir="$1"
    rm -rf "$dir"
    mkdir -p "$tools_dir"
    if python3 -m venv "$dir" >"$log" 2>&1; then
        return 0
    fi
    # Some distributions ship python3 without the venv module's pip bootstrap (ensurepip).
    # Fall back to virtualenv, installed from the package index into a private directory.
    rm -rf "$dir"
    quietly "installing virtualenv" python3 -m pip install --quiet --disable-pip-version-check \
        --target "$tools_dir/virtualenv" virtualenv
    quietly "creating the venv with virtualenv" \
        env PYTHONPATH="$tools_dir/virtualenv" python3 -m virtualenv --quiet "$dir"
}

py_stamp="$venv/.install-stamp"
py_want="$({ cat "$requirements"; python3 --version; } | digest)"
if [[ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ]] ||
    ! "$venv/bin/python" -c 'import mcp' >/dev/null 2>&1; then
    # Rebuilt from scratch whenever the pins or the interpreter change: no stale packages.
    make_venv "$venv"
    quietly "pip install -r $requirements" "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check --no-input -r "$requirements"
    echo "$py_want" >"$py_stamp"
fi

# --- OpenAPI validator --------------------------------------------------------------------------
openapi_venv="$tools_dir/openapi-venv"
openapi_pins=(
    openapi-spec-validator==0.9.0
    openapi-schema-validator==0.9.0
    annotated-types==0.8.0
    attrs==26.1.0
    jsonschema==4.26.0
    jsonschema-path==0.5.0
    jsonschema-specifications==2025.9.1
    lazy-object-proxy==1.13.0
    pathable==0.6.0
    pydantic==2.14.3
    pydantic-settings==2.16.3
    pydantic_core==2.50.4
    python-dotenv==1.2.4
    PyYAML==6.0.3
    referencing==0.37.0
    rfc3339-validator==0.1.4
    rpds-py==2026.9.1
    six==1.17.0
    typing-inspection==0.4.5
    typing_extensions==4.16.0
)
oa_stamp="$openapi_venv/.install-stamp"
oa_want="$({ printf '%s\n' "${openapi_pins[@]}"; python3 --version; } | digest)"
if [[ "$(cat "$oa_stamp" 2>/dev/null)" != "$oa_want" ]] ||
    ! "$openapi_venv/bin/python" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    make_venv "$openapi_venv"
    quietly "pip install openapi-spec-validator" "$openapi_venv/bin/python" -m pip install \
        --quiet --disable-pip-version-check --no-input "${openapi_pins[@]}"
    echo "$oa_want" >"$oa_stamp"
fi

# --- Node ---------------------------------------------------------------------------------------
command -v node >/dev/null || die "node is required"
command -v npm >/dev/null || die "npm is required"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "node >= 20 is required (found $(node --version))"

npm_ci() (
    cd "$ts_dir"
    npm ci --no-audit --no-fund --loglevel=error
)

ts_stamp="$ts_dir/node_modules/.install-stamp"
ts_want="$({ cat "$ts_dir/package.json" "$ts_dir/package-lock.json"; node --version; } | digest)"
if [[ "$(cat "$ts_stamp" 2>/dev/null)" != "$ts_want" ]] ||
    [[ ! -f "$ts_dir/node_modules/@modelcontextprotocol/client/package.json" ]]; then
    quietly "npm ci in $ts_dir" npm_ci
    echo "$ts_want" >"$ts_stamp"
fi
