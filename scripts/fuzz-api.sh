#!/usr/bin/env bash
# Fuzzes the HTTP API with Schemathesis against its own /openapi.json (issue 7, point 9).
#
# Starts a debug `latchkey serve` (LATCHKEY_ENV=test, SQLite in a temporary directory, a random
# Redis key prefix, on a free port) beside a small fake of GitHub's OAuth endpoints and of the
# vision API on loopback, signs a user in through the real login flow, and runs Schemathesis on
# every documented operation with that session and its CSRF token: no answer may be a 5xx, and
# every answer must match the document (status code, content type, headers, body schema).
# Exits non-zero on any failure, or if the server logged a panic.
#
# Schemathesis comes from PyPI into a venv under ~/.cache/latchkey/ on first use.
# Redis: the one at LATCHKEY__REDIS__URL when it answers, else a throw-away redis-server
# (scripts/with-redis.sh).
#
# Environment: FUZZ_MAX_EXAMPLES (default 30 per operation), FUZZ_SEED (default random),
# SCHEMATHESIS_VERSION (default pinned below).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LK_FUZZ_UNDER_REDIS:-}" ]; then
  LK_FUZZ_UNDER_REDIS=1 exec scripts/with-redis.sh "$0" "$@"
fi

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
max_examples="${FUZZ_MAX_EXAMPLES:-30}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/latchkey"
venv="$cache/schemathesis-venv"

say() { printf 'fuzz-api: %s\n' "$*" >&2; }

# --- Schemathesis ---------------------------------------------------------------------------
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- the server -----------------------------------------------------------------------------
say "building latchkey (debug)"
cargo build --quiet --bin latchkey
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
latchkey="$target_dir/debug/latchkey"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fake_port=$(free_port)
port=$(free_port)
base="http://127.0.0.1:$port"

# GitHub's token and user endpoints and an OpenAI-compatible chat completion, enough for a
# login to succeed and the vision proxy to answer 200. Nothing here leaves loopback.
cat >"$work/fake.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Fake(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/user":
            self.answer({"id": 4242, "login": "fuzz", "name": "Fuzz Tester",
                         "avatar_url": "https://img.example.com/fuzz.png", "email": None})
        elif self.path == "/user/emails":
            self.answer([{"email": "fuzz@example.com", "primary": True, "verified": True,
                          "visibility": "private"}])
        else:
            self.answer({"message": "Not Found"}, 404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/login/oauth/access_token":
            self.answer({"access_token": "gho_fuzz", "token_type": "bearer",
                         "scope": "read:user,user:email"})
        elif self.path == "/v1/chat/completions":
            self.answer({"id": "chatcmpl-fuzz", "object": "chat.completion", "model": "fuzz",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "字幕"}}]})
        else:
            self.answer({"message": "Not Found"}, 404)

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Fake).serve_forever()
PY
python3 "$work/fake.py" "$fake_port" &
pids+=($!)

fake="http://127.0.0.1:$fake_port"
prefix="lkfuzz:$(python3 -c 'import secrets; print(secrets.token_hex(8))'):"
say "starting latchkey on $base (Redis key prefix $prefix)"
LATCHKEY_ENV=test \
LATCHKEY__SERVER__HOST=127.0.0.1 \
LATCHKEY__SERVER__PORT="$port" \
LATCHKEY__SERVER__PUBLIC_URL="$base" \
LATCHKEY__DATABASE__URL="sqlite://$work/latchkey.db?mode=rwc" \
LATCHKEY__REDIS__KEY_PREFIX="$prefix" \
LATCHKEY__PROVIDERS__GITHUB__CLIENT_ID=fuzz-client \
LATCHKEY__PROVIDERS__GITHUB__CLIENT_SECRET=fuzz-secret \
LATCHKEY__PROVIDERS__GITHUB__AUTH_URL="$fake/login/oauth/authorize" \
LATCHKEY__PROVIDERS__GITHUB__TOKEN_URL="$fake/login/oauth/access_token" \
LATCHKEY__PROVIDERS__GITHUB__API_URL="$fake" \
LATCHKEY__VISION__BASE_URL="$fake/v1" \
LATCHKEY__VISION__API_KEY=fuzz-key \
LATCHKEY__BILLING__STRIPE_WEBHOOK_SECRET=whsec_fuzz \
LATCHKEY__LOG__LEVEL=warn \
RUST_BACKTRACE=1 \
  "$latchkey" serve >"$work/server.log" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
if ! curl -fsS "$base/readyz" >/dev/null; then
  say "the server did not become ready"; cat "$work/server.log" >&2; exit 1
fi

# --- a session, through the real login flow -------------------------------------------------
# Prints the session and CSRF cookie values and the CSRF token, one per line.
mapfile -t creds < <(python3 - "$base" <<'PY'
import json, sys, urllib.parse, urllib.request
from http.cookies import SimpleCookie

base = sys.argv[1]
jar = {}

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

opener = urllib.request.build_opener(NoRedirect)

def call(path, headers=None):
    req = urllib.request.Request(base + path, headers=headers or {})
    if jar:
        req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))
    req.add_header("Accept", "application/json")
    try:
        res = opener.open(req)
    except urllib.error.HTTPError as e:
        sys.exit(f"fuzz-api: {path} answered {e.code}: {e.read().decode()}")
    for value in res.headers.get_all("Set-Cookie") or []:
        for name, morsel in SimpleCookie(value).items():
            if morsel["max-age"] == "0":
                jar.pop(name, None)
            else:
                jar[name] = morsel.value
    return json.loads(res.read())

token = call("/auth/csrf-token")["csrf_token"]
auth_url = call("/auth/github/login", {"X-CSRF-Token": token})["authUrl"]
state = urllib.parse.parse_qs(urllib.parse.urlparse(auth_url).query)["state"][0]
call("/auth/github/callback?" + urllib.parse.urlencode({"code": "fuzz-code", "state": state}))
session = jar.get("__Host-latchkey_session")
if not session:
    sys.exit("fuzz-api: the login set no session cookie")
print(session)
print(jar["__Host-latchkey_csrf"])
print(token)
PY
)
[ "${#creds[@]}" -eq 3 ] || { say "could not sign in"; cat "$work/server.log" >&2; exit 1; }
curl -fsS -o /dev/null -b "__Host-latchkey_session=${creds[0]}" "$base/api/user/info" ||
  { say "the session does not work"; exit 1; }
say "signed in through the GitHub flow"

# --- Schemathesis ---------------------------------------------------------------------------
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
seed=${FUZZ_SEED:-$RANDOM$RANDOM}
st() {
  # From the temporary directory, so that nothing (.hypothesis, reports) lands in the tree.
  (cd "$work" && "$venv/bin/schemathesis" run "$base/openapi.json" \
    --checks "$checks" \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --generation-with-security-parameters false \
    --request-timeout 10 \
    --no-color \
    -H "Cookie: __Host-latchkey_session=${creds[0]}; __Host-latchkey_csrf=${creds[1]}" \
    -H "X-CSRF-Token: ${creds[2]}" \
    "$@")
}

status=0
say "schemathesis $SCHEMATHESIS_VERSION, seed $seed, at most $max_examples examples per operation"
# What can end the session the run uses goes last: revoking one session (Schemathesis feeds
# ids it saw in GET /api/sessions to DELETE /api/sessions/{id}, the current one included),
# then sign-out. After that, answers are 401s, which are documented too.
st --exclude-operation-id logout --exclude-operation-id revoke_one || status=1
st --include-operation-id list --include-operation-id revoke_one || status=1
st --include-operation-id logout || status=1

# What the run reached, from the server's own request metrics (route template, method, status).
say "answers by route and status:"
curl -fsS "$base/metrics" | python3 -c '
import re, sys, collections
seen = collections.defaultdict(dict)
refused = 0
for line in sys.stdin:
    m = re.match(r"latchkey_http_request_duration_seconds_count\{(.*)\} (\S+)", line)
    if m:
        labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(1)))
        count = int(float(m.group(2)))
        if labels["status"] in ("404", "405") and labels["route"] == "unmatched" or labels["status"] == "405":
            refused += count
        else:
            seen[labels["method"] + " " + labels["route"]][labels["status"]] = count
for route in sorted(seen):
    print("  %-44s %s" % (route, "  ".join("%s:%d" % kv for kv in sorted(seen[route].items()))))
print("  (and %d answers to methods or paths that are not served: 404/405)" % refused)
' >&2 || true

if grep -q "panicked" "$work/server.log"; then
  say "the server panicked:"; grep -A5 "panicked" "$work/server.log" >&2; status=1
fi
if ! kill -0 "${pids[1]}" 2>/dev/null; then
  say "the server died during the run"; status=1
fi
if [ "$status" -ne 0 ]; then
  say "FAILED (seed $seed; rerun with FUZZ_SEED=$seed). Server log, last lines:"
  tail -n 40 "$work/server.log" >&2
else
  say "passed: no 5xx, every answer as documented"
fi
exit "$status"
