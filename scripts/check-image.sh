#!/usr/bin/env bash
# Checks a built latchkey image from its filesystem (podman run is refused on these machines,
# see scripts/ci-image.sh):
#   1. the binary runs in a chroot of the image, as UID 10001, with the root mounted
#      read-only: `--version`, and `config check` with a production configuration against
#      the Redis and PostgreSQL on 127.0.0.1 (the chroot shares the host's network);
#   2. what the build added to the runtime base is only what is expected;
#   3. no layer holds a `.git`, an environment file, a key or a known secret value.
#
#   scripts/check-image.sh [image]      (default localhost/latchkey:ci)
set -euo pipefail
IMAGE="${1:-localhost/latchkey:ci}"
BASE="${RUNTIME_IMAGE:-localhost/latchkey-base/runtime:bookworm}"
work="$(mktemp -d)"
mounted=""
cleanup() {
  [ -z "$mounted" ] || podman image unmount "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { printf 'check-image: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'check-image: ok: %s\n' "$*"; }

root="$(podman image mount "$IMAGE")"
mounted=1
[ -x "$root/usr/local/bin/latchkey" ] || fail "no /usr/local/bin/latchkey in $IMAGE"

# The image's own settings, as a container would get them.
user="$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
[ "$user" = "10001:10001" ] || fail "USER is '$user', not 10001:10001"
entry="$(podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")"
[ "$entry" = '["latchkey"]' ] || fail "ENTRYPOINT is $entry"
ok "USER $user, ENTRYPOINT $entry"

# 1. Run the binary: a private mount namespace where the image's root is bound read-only,
# with /proc and /dev/null as a container has them, then chroot as 10001:10001.
run_in_image() {
  unshare --mount --propagation private bash -euo pipefail -c '
    ro="$1"; root="$2"; shift 2
    mount --bind "$root" "$ro"
    mount -o remount,bind,ro "$ro"
    mount -t proc proc "$ro/proc" 2>/dev/null || true
    mount --bind /dev/null "$ro/dev/null" 2>/dev/null || true
    exec chroot --userspec=10001:10001 "$ro" "$@"
  ' run "$work/ro" "$root" "$@"
}
mkdir -p "$work/ro"
version="$(run_in_image env -i PATH=/usr/local/bin:/usr/bin:/bin /usr/local/bin/latchkey --version)"
printf '%s\n' "$version" | grep -q '^latchkey ' || fail "--version printed '$version'"
ok "--version as 10001 on a read-only root: $version"

if ! run_in_image sh -c 'touch /app/x 2>/dev/null || touch /tmp/x 2>/dev/null'; then
  ok "nothing is writable (/app, /tmp) with the root read-only"
else
  fail "the chroot's root is writable"
fi

check_out="$work/config-check.txt"
if ! run_in_image env -i PATH=/usr/local/bin:/usr/bin:/bin \
  LATCHKEY_ENV=production LATCHKEY_CONFIG_DIR=/app/config \
  LATCHKEY__SERVER__PUBLIC_URL=https://auth.example.com \
  LATCHKEY__REDIS__URL="${CHECK_REDIS_URL:-redis://127.0.0.1:6379}" \
  LATCHKEY__DATABASE__URL="${CHECK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
  LATCHKEY__VISION__API_KEY=sk-image-check-not-a-key \
  /usr/local/bin/latchkey config check >"$check_out" 2>&1; then
  cat "$check_out" >&2
  fail "config check with a production configuration"
fi
grep -q '^redis: answers' "$check_out" || fail "config check: Redis: $(grep '^redis' "$check_out")"
grep -q '^database: answers' "$check_out" || fail "config check: database: $(grep '^database' "$check_out")"
! grep -q 'sk-image-check-not-a-key' "$check_out" || fail "config check printed the API key"
ok "config check (production, read-only root, UID 10001): redis answers, database answers"

# 2. What the build added to the runtime base. Layers are compared as file lists: the
# image's files minus the base's.
base_root="$(podman image mount "$BASE")"
(cd "$base_root" && find . -xdev | sort) >"$work/base.txt"
podman image unmount "$BASE" >/dev/null
(cd "$root" && find . -xdev | sort) >"$work/image.txt"
comm -13 "$work/base.txt" "$work/image.txt" >"$work/added.txt"
expected='^\./(etc/hosts|etc/resolv\.conf|app|app/config|app/config/[a-z]+\.toml|usr/local/bin/latchkey|etc/(passwd|group|shadow|gshadow)-?|var/lib/dpkg(/.*)?|var/lib/apt(/.*)?|var/cache/(apt|debconf|ldconfig)(/.*)?|var/log(/.*)?|etc/ssl/certs(/.*)?|usr/share/ca-certificates(/.*)?|etc/ca-certificates(\.conf)?(/.*)?)$'
unexpected="$(grep -Ev "$expected" "$work/added.txt" || true)"
[ -z "$unexpected" ] || fail "unexpected files in the image: $(printf '%s\n' "$unexpected" | head -20)"
# Left by the build's RUN steps as mount points for the host's name resolution: empty.
for f in etc/hosts etc/resolv.conf; do
  if grep -qx "./$f" "$work/added.txt" && [ -s "$root/$f" ]; then fail "/$f is not empty"; fi
done
ok "the build added $(wc -l <"$work/added.txt") paths, all expected: $(grep -E '^\./(app|usr/local/bin)' "$work/added.txt" | tr '\n' ' ')"
[ -z "$(find "$root/app" -newer "$root/usr/local/bin/latchkey" -type f -perm -o+w)" ] || fail "world-writable files under /app"

# 3. Every layer, including those a later one hides: no VCS data, environment files, private
# keys or known secret values.
podman save --format oci-dir -o "$work/oci" "$IMAGE" >/dev/null
layers=0
for blob in "$work"/oci/blobs/sha256/*; do
  tar -tf "$blob" >"$work/layer.txt" 2>/dev/null || continue
  layers=$((layers + 1))
  if grep -Eq '(^|/)\.git(/|$)|(^|/)\.env(\..*)?$|(^|/)id_(rsa|ed25519|ecdsa)$|\.p12$|/\.cargo/credentials|(^|/)target/release/' "$work/layer.txt"; then
    fail "layer $(basename "$blob"): $(grep -E '(^|/)\.git(/|$)|\.env|id_(rsa|ed25519|ecdsa)|\.p12$|credentials|target/release/' "$work/layer.txt" | head -5)"
  fi
  # A key's PEM header followed by its body (the binary holds the header alone, as a parser's
  # constant), a live Stripe key or webhook secret.
  if tar -xOf "$blob" 2>/dev/null | grep -azqP 'PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40,}|sk_live_[0-9A-Za-z]{8}|whsec_[0-9A-Za-z]{8}'; then
    fail "layer $(basename "$blob") holds a private key or a live secret"
  fi
done
[ "$layers" -gt 0 ] || fail "no layer could be read"
ok "$layers layers: no .git, env file, private key or live secret"
