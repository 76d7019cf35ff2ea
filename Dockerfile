# mcpgate: the container image.
#
#   docker build -t mcpgate .
#   docker run -p 8080:8080 -v mcpgate-data:/data \
#     -e MCPGATE_AUTH=token -e MCPGATE_AUTH_TOKEN="$(openssl rand -hex 24)" mcpgate
#
# Inside the container mcpgate listens on 0.0.0.0:8080, so it starts only with an auth backend
# (MCPGATE_AUTH=token|jwt|signed|mtls) or with MCPGATE_ALLOW_UNAUTHENTICATED=true when a proxy in
# front authenticates callers; without either it exits 64 and says so. The admin listener
# (metrics, status page) stays on the container's loopback unless MCPGATE_ADMIN_LISTEN says
# otherwise (set MCPGATE_METRICS_TOKEN with it). The root filesystem can be read-only: mcpgate
# writes only to /data.
#
# The base images are build arguments so that a registry mirror, or images made locally
# (scripts/container-test.sh does, where Docker Hub is out of reach), can stand in for them.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# The build profile: `dist` (whole-program optimisation: fewer instructions per request, less
# CPU per forwarded call and a smaller binary; BENCHMARKS.md) unless `--build-arg
# PROFILE=release` asks for the quicker build.
ARG PROFILE=dist
WORKDIR /src
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_DIST_STRIP=symbols \
    CARGO_TERM_COLOR=never

# Dependencies first, from the manifests and the lock file alone (each crate's sources stubbed):
# this layer is rebuilt only when a manifest or the lock file changes, not on every code change.
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates/mcpgate/Cargo.toml crates/mcpgate/
COPY crates/mcpgate-bench/Cargo.toml crates/mcpgate-bench/
RUN mkdir -p crates/mcpgate/src crates/mcpgate/tests/it crates/mcpgate-bench/src/bin \
    && for stub in crates/mcpgate/src/main.rs crates/mcpgate/tests/it/main.rs \
         crates/mcpgate-bench/src/bin/mcpgate-bench.rs crates/mcpgate-bench/src/bin/rmcp-floor.rs; do \
         echo 'fn main() {}' > "$stub"; done \
    && touch crates/mcpgate/src/lib.rs crates/mcpgate-bench/src/lib.rs \
    && cargo build --profile "$PROFILE" --locked -p mcpgate \
    && rm -rf crates/mcpgate/src crates/mcpgate/tests crates/mcpgate-bench/src \
         "target/$PROFILE/.fingerprint"/mcpgate-* "target/$PROFILE/deps"/*mcpgate*

# Then the product.
COPY crates crates
RUN cargo build --profile "$PROFILE" --locked -p mcpgate \
    && install -D "target/$PROFILE/mcpgate" /out/mcpgate

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="Production MCP server and gateway: stdio and Streamable HTTP, both protocol eras, with a production edge." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/mcpgate"

# tini is PID 1: it forwards SIGTERM to mcpgate (which drains) and reaps the stdio upstreams'
# children. CA certificates for HTTPS upstreams, JWKS and OAuth.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 mcpgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
         --shell /usr/sbin/nologin mcpgate \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=build /out/mcpgate /usr/local/bin/mcpgate

# SQLite's temporary files (large sorts, index builds) go to the volume too, not /var/tmp, so
# the root filesystem can be mounted read-only.
ENV MCPGATE_LISTEN=0.0.0.0:8080 \
    MCPGATE_DATA_DIR=/data \
    MCPGATE_LOG_FORMAT=json \
    SQLITE_TMPDIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# `mcpgate health` probes the listener it is configured for (no curl in the image).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["mcpgate", "health", "--timeout", "4s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "mcpgate"]
CMD ["serve"]
