#!/usr/bin/env bash
# Builds the repository's Dockerfile as CI does, and checks the image from its filesystem.
#
#   scripts/ci-image.sh            base images (once per machine), build, check
#
# What these machines allow (docs/deployment.md, "The image in CI"): Debian's podman builds
# with `--isolation=chroot` (RUN steps run without a container runtime); `podman run` is
# refused (the runtime cannot set rlimits), so the image is checked from its mounted
# filesystem with chroot(8) instead; no image registry is reachable, so both base images are
# made here and passed through the Dockerfile's RUST_IMAGE and RUNTIME_IMAGE arguments:
#   runtime - a Debian bookworm root made by debootstrap from Debian's packages;
#   builder - the same with gcc and libc6-dev, plus this machine's Rust toolchain.
# Both are kept in podman's store (named after what made them), so only the first run pays.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LATCHKEY_IMAGE_CACHE:-$HOME/.cache/latchkey/images}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
IMAGE="${LATCHKEY_IMAGE:-localhost/latchkey:ci}"
TOOLCHAIN="$(rustc --print sysroot)"
RUST_VERSION="$(rustc --version | awk '{print $2}')"
RUNTIME_IMAGE="localhost/latchkey-base/runtime:bookworm"
RUST_IMAGE="localhost/latchkey-base/rust:${RUST_VERSION}-bookworm"

# Progress goes to stderr: debian_root's stdout is its result.
say() { printf '  %s\n' "$*" >&2; }
fail() { printf 'ci-image: %s\n' "$*" >&2; exit 1; }
secs() { date +%s; }

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install podman debootstrap)"
done

# A Debian bookworm root in $CACHE/$1-root with the packages $2 (comma-separated).
debian_root() {
  local root="$CACHE/$1-root"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    mkdir -p "$CACHE"
    say "debootstrap $1 ($2)"
    debootstrap --variant=minbase --include="$2" bookworm "$root" "$MIRROR" >"$CACHE/$1.log" 2>&1 \
      || fail "debootstrap $1 failed, see $CACHE/$1.log"
    touch "$root/.complete"
  fi
  printf '%s' "$root"
}

# Imports a root directory as an image; $3.. are `--change` instructions.
import_root() {
  local root="$1" image="$2"
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  # An import whose tar failed would still leave an (empty) image under the name, which every
  # later run would take for the real one: remove it and stop.
  if ! tar --exclude=./.complete --exclude=./var/cache/apt/archives/*.deb --exclude=./var/lib/apt/lists/* \
    -C "$root" -cf - . | podman import "${changes[@]}" - "$image" >/dev/null; then
    podman rmi -f "$image" >/dev/null 2>&1 || true
    fail "importing $root as $image failed"
  fi
}

base_images() {
  if ! podman image exists "$RUNTIME_IMAGE"; then
    local root
    root="$(debian_root runtime ca-certificates)"
    say "importing $RUNTIME_IMAGE"
    import_root "$root" "$RUNTIME_IMAGE" 'CMD ["/bin/bash"]'
  fi
  if ! podman image exists "$RUST_IMAGE"; then
    local root
    root="$(debian_root builder ca-certificates,gcc,libc6-dev)"
    say "copying the Rust toolchain $RUST_VERSION ($TOOLCHAIN) into the builder root"
    rm -rf "$root/usr/local/rust"
    mkdir -p "$root/usr/local/rust"
    # The compiler, cargo and the standard library; not the documentation or the sources.
    tar -C "$TOOLCHAIN" --exclude=./share/doc --exclude=./lib/rustlib/src -cf - . \
      | tar -C "$root/usr/local/rust" -xf -
    # The machine's trust store, so that cargo reaches crates.io the way this machine does
    # (through a TLS-inspecting proxy here). Only the builder has it; the runtime image keeps
    # Debian's own.
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    say "importing $RUST_IMAGE"
    import_root "$root" "$RUST_IMAGE" \
      'ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      'ENV CARGO_HOME=/usr/local/cargo' \
      'CMD ["/bin/bash"]'
  fi
}

# The Dockerfile's cache mounts (Cargo's registry and build directory) live in podman's own
# cache directory (/var/tmp/buildah-cache-0/<id>) and outlast the build, so a warm run compiles
# only what changed. Layers are kept too (--layers): unchanged steps are not run again.
build() {
  podman build --isolation=chroot --layers \
    --build-arg RUST_IMAGE="$RUST_IMAGE" \
    --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    -t "$IMAGE" .
  # Intermediate images of earlier runs (the stages' layers are still cached by digest).
  podman image prune -f >/dev/null 2>&1 || true
}

t0=$(secs)
base_images
t1=$(secs)
build
t2=$(secs)
scripts/check-image.sh "$IMAGE"
t3=$(secs)
printf 'ci-image: base images %ss, build %ss, checks %ss\n' "$((t1 - t0))" "$((t2 - t1))" "$((t3 - t2))"
