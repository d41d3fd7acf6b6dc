# syntax=docker/dockerfile:1
#
# latchkey's container image: `docker build -t latchkey:<tag> .` from the repository root.
# See docs/deployment.md. Three stages:
#   chef     - the Rust toolchain plus cargo-chef (from crates.io);
#   builder  - builds the dependencies alone from a recipe of the Cargo manifests (a layer that
#              is reused until Cargo.toml or Cargo.lock change), then latchkey itself;
#   runtime  - Debian slim with CA certificates, the `latchkey` binary and `config/`, running
#              as the fixed non-root UID/GID 10001. Nothing is written at run time, so the
#              root filesystem can be mounted read-only.

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS chef
# rust:*-slim already carries gcc and libc6-dev, which the bundled SQLite and ring compile with.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# ---------------------------------------------------------------------------------------------
# The recipe lists the workspace's manifests and lock file only, so source edits do not
# invalidate the dependency layer below.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---------------------------------------------------------------------------------------------
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Cargo's registry and the build directory are cache mounts: the builder (BuildKit, buildah,
# podman) keeps them between builds, so a build after a small change compiles only what
# changed, and they are never part of a layer. Without a kept cache the dependency layer
# below still spares rebuilding the dependencies while the manifests do not change.
RUN --mount=type=cache,id=latchkey-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=latchkey-target,target=/src/target \
    cargo chef cook --release --locked --recipe-path recipe.json --bin latchkey
COPY . .
RUN --mount=type=cache,id=latchkey-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=latchkey-target,target=/src/target \
    cargo build --release --locked --bin latchkey \
 && install -D -m 0755 target/release/latchkey /out/latchkey \
 && /out/latchkey --version

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 latchkey \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin latchkey

# The configuration files are also embedded in the binary; the copies here let an operator
# mount a changed file over them without recompiling. Root-owned, so read-only for latchkey.
WORKDIR /app
COPY config/ /app/config/
COPY --from=builder /out/latchkey /usr/local/bin/latchkey

ENV LATCHKEY_ENV=production \
    LATCHKEY_CONFIG_DIR=/app/config

LABEL org.opencontainers.image.title="latchkey" \
      org.opencontainers.image.description="Login and session server for browser extensions" \
      org.opencontainers.image.licenses="MIT"

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080

# `latchkey` is the entrypoint, so `kubectl exec deploy/latchkey -- latchkey sessions list` and
# `docker run <image> migrate up` both work. Migrations run in their own Job, hence --no-migrate.
ENTRYPOINT ["latchkey"]
CMD ["serve", "--no-migrate"]
