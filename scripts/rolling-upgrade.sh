#!/usr/bin/env bash
# A rolling upgrade, for real: the previous release and this tree's latchkey side by side on one
# Redis (a random key prefix of the Redis at REDIS_URL) and one SQLite database, the way old and
# new replicas share them while a Deployment rolls (docs/sessions.md, "Upgrading").
#
#   scripts/rolling-upgrade.sh [OLD_REV]
#   OLD_LAYOUT=indexed NEW_LAYOUT=compact scripts/rolling-upgrade.sh tree
#   ROLLBACK=1 scripts/rolling-upgrade.sh [OLD_REV]
#
# OLD_REV (default f7470ef: the last commit before the index took over the sessions' traces) is
# built from a git worktree of it, this tree as it is on disk; both debug builds share
# CARGO_TARGET_DIR. OLD_REV `tree` runs this tree's binary as both, which with OLD_LAYOUT and
# NEW_LAYOUT (`redis.layout` of each, default `indexed`) checks the second step of the
# compact layout's rollout: replicas writing either layout side by side. ROLLBACK=1 goes the
# other way: users sign in on this tree writing `compact`, it is rolled to `indexed`,
# `latchkey sessions reindex` runs (REINDEX=0 skips it, to see what it prevents), then
# OLD_REV starts beside it and its logins, logouts and operator commands must reach every
# session.
# Then, with the fake Google of `cargo run --example fakes`, users sign in on
# each binary (token mode) and every request is crossed, each done by one binary to sessions
# the other started and each answer read from both: user info, the list of sessions, a
# revocation by id and of all others, a logout, an eviction by the cap, an operator's
# revocation and a user's disable (each binary's CLI), for users with one session and with
# several. It passes when nobody who should be
# signed in is signed out, every ended session answers 401 on both, no answer is a 5xx, and
# this tree's 401s give the exact reason (the previous release's may say `unknown` for a
# session this tree ended: it reads only its own trace keys, and this tree deletes those of the
# sessions it ends). Needs git, cargo, python3 and redis-cli; REDIS_URL defaults to
# redis://127.0.0.1:6379. Exit status 0 on a pass.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD_REV=${1:-f7470ef}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
WORK=$(mktemp -d)
OLD_TREE=$WORK/old
PREFIX="roll-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"

cleanup() {
  git -C "$ROOT" worktree remove --force "$OLD_TREE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "${PREFIX}*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$OLD_REV" != tree ]; then
  echo "== building the previous release ($OLD_REV) in $OLD_TREE"
  git -C "$ROOT" worktree add --detach "$OLD_TREE" "$OLD_REV" >/dev/null
  (cd "$OLD_TREE" && cargo build --quiet --bin latchkey)
  cp "$TARGET/debug/latchkey" "$WORK/latchkey-old"
fi
echo "== building this tree ($(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD || echo ', with changes'))"
(cd "$ROOT" && cargo build --quiet --bin latchkey --example fakes)
cp "$TARGET/debug/latchkey" "$WORK/latchkey-new"
cp "$TARGET/debug/examples/fakes" "$WORK/fakes"
[ "$OLD_REV" != tree ] || cp "$WORK/latchkey-new" "$WORK/latchkey-old"

OLD_LAYOUT=${OLD_LAYOUT:-indexed}
NEW_LAYOUT=${NEW_LAYOUT:-indexed}
echo "== running both on $REDIS_URL under the key prefix $PREFIX (layouts: old $OLD_LAYOUT, new $NEW_LAYOUT)"
# Each binary runs in its own tree, so that it reads its own release's config/default.toml
# (an image carries its own): the previous release refuses a key it does not know.
[ "$OLD_REV" != tree ] || OLD_TREE=$ROOT
WORK=$WORK PREFIX=$PREFIX REDIS_URL=$REDIS_URL OLD_REV=$OLD_REV OLD_LAYOUT=$OLD_LAYOUT \
  NEW_LAYOUT=$NEW_LAYOUT OLD_TREE=$OLD_TREE NEW_TREE=$ROOT ROLLBACK=${ROLLBACK:-0} \
  REINDEX=${REINDEX:-1} python3 - <<'PY'
import base64, hashlib, html, json, os, re, secrets, socket, subprocess, sys, time
import urllib.error, urllib.parse, urllib.request

WORK, PREFIX, REDIS_URL = os.environ["WORK"], os.environ["PREFIX"], os.environ["REDIS_URL"]
# Both binaries are this tree's: both must give the exact reason.
BOTH_EXACT = os.environ["OLD_REV"] == "tree"
LAYOUTS = {"old": os.environ["OLD_LAYOUT"], "new": os.environ["NEW_LAYOUT"]}
REINDEX = os.environ["REINDEX"] == "1"
TREES = {"old": os.environ["OLD_TREE"], "new": os.environ["NEW_TREE"]}
answers = []      # (server, method, path, status)
failures = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(method, url, headers=None, body=None, follow=True):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as res:
            return res.status, res.geturl(), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.geturl(), e.read()


fakes = subprocess.Popen([f"{WORK}/fakes"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
fake_env = json.loads(fakes.stdout.readline())
control = fake_env["control"]
servers = {}


def start(name, binary):
    port = free_port()
    layout = {} if LAYOUTS[name] == "indexed" else {"LATCHKEY__REDIS__LAYOUT": LAYOUTS[name]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY")}
    env.update(fake_env["env"])
    env.update({
        "LATCHKEY_ENV": "development",
        "LATCHKEY__LOG__LEVEL": "warn",
        "LATCHKEY__LOG__FORMAT": "json",
        "LATCHKEY__DATABASE__URL": f"sqlite://{WORK}/roll.db?mode=rwc",
        "LATCHKEY__REDIS__URL": REDIS_URL,
        "LATCHKEY__REDIS__KEY_PREFIX": PREFIX,
        "LATCHKEY__SERVER__PORT": str(port),
        "LATCHKEY__SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "LATCHKEY__SESSION__MAX_PER_USER": "3",
        # Every sign-in comes from 127.0.0.1, as in the tests (config/test.toml).
        "LATCHKEY__LIMITS__AUTH_PER_IP": "100000",
        **layout,
    })
    log = open(f"{WORK}/{name}.log", "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log, cwd=TREES[name])
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if http("GET", base + "/readyz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        sys.exit(f"{name} did not become ready; its log: {WORK}/{name}.log")
    servers[name] = {"base": base, "proc": proc, "env": env, "binary": binary, "cwd": TREES[name]}


def call(server, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, raw = http(method, servers[server]["base"] + path, headers, body)
    answers.append((server, method, path.split("?")[0], status))
    if status >= 500:
        failures.append(f"{server} {method} {path} answered {status}: {raw[:200]!r}")
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


user_no = 0


def new_user():
    global user_no
    user_no += 1
    return {"sub": f"roll-{PREFIX}{user_no}", "email": f"roll{user_no}@example.com",
            "name": f"Roll {user_no}", "picture": "https://example.com/p.png",
            "email_verified": True}


def sign_in(server, user):
    """Token mode, as the example extension does it; returns the session token."""
    assert http("POST", control + "/google/user", body=user)[0] == 200
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    base = servers[server]["base"]
    query = urllib.parse.urlencode({"mode": "token", "redirect_uri": base + "/auth/complete",
                                    "code_challenge": challenge, "code_challenge_method": "S256"})
    status, body = call(server, "GET", "/auth/google/login?" + query)
    assert status == 200, (server, status, body)
    # The fake's consent page: follow its "allow" link, as a user would click it.
    _, page_url, page = http("GET", body["authUrl"])
    allow = re.search(r'id="allow"[^>]*href="([^"]+)"', page.decode())
    assert allow, page[:300]
    _, landed, _ = http("GET", urllib.parse.urljoin(page_url, html.unescape(allow.group(1))))
    code = urllib.parse.parse_qs(urllib.parse.urlparse(landed).query).get("code", [None])[0]
    assert code, f"the sign-in on {server} ended on {landed}"
    status, body = call(server, "POST", "/auth/token", body={"code": code, "code_verifier": verifier})
    assert status == 200, (server, status, body)
    return body["session_token"]


def public_id(token):
    digest = hashlib.sha256(token.encode()).hexdigest()
    return digest[:16]


def expect_live(token, what):
    for server in servers:
        status, body = call(server, "GET", "/api/user/info", token)
        if status != 200:
            failures.append(f"{what}: signed out on {server} ({status} {body})")


def expect_ended(token, reason, what):
    for server in servers:
        status, body = call(server, "GET", "/api/user/info", token)
        got = (body or {}).get("reason")
        if status != 401:
            failures.append(f"{what}: still signed in on {server} ({status})")
        elif (server == "new" or BOTH_EXACT) and got != reason:
            failures.append(f"{what}: {server} says {got!r}, not {reason!r}")
        else:
            print(f"   {what}: 401 on {server}, reason {got}")


def listed(server, token):
    status, body = call(server, "GET", "/api/sessions", token)
    if status != 200:
        failures.append(f"list on {server}: {status}")
        return set()
    return {s["id"] for s in body["sessions"]}


def user_id_of(server, token):
    status, body = call(server, "GET", "/api/user/info", token)
    user_id = (body or {}).get("user", {}).get("user_id")
    if status != 200 or not user_id:
        failures.append(f"user info on {server}: {status} {body}")
    return user_id


def operator(server, *args):
    s = servers[server]
    done = subprocess.run([s["binary"], *args], env=s["env"], cwd=s["cwd"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        failures.append(f"{server} CLI {args}: exit {done.returncode}: {done.stderr[-300:]}")
    return done.stdout


def stop(name):
    servers[name]["proc"].terminate()
    servers[name]["proc"].wait(timeout=10)
    del servers[name]


def rollback():
    """compact on this tree, rolled to indexed, reindexed, then the old release beside it."""
    print("== users sign in on new, writing the compact layout")
    LAYOUTS["new"] = "compact"
    start("new", f"{WORK}/latchkey-new")
    ua, ub, uc = new_user(), new_user(), new_user()
    a1, b1 = sign_in("new", ua), sign_in("new", ub)
    c1, c2 = sign_in("new", uc), sign_in("new", uc)
    stop("new")
    print("== new rolled to indexed" + (", then `sessions reindex`" if REINDEX else ", no reindex"))
    LAYOUTS["new"] = "indexed"
    start("new", f"{WORK}/latchkey-new")
    if REINDEX:
        out = operator("new", "sessions", "reindex", "--json")
        if json.loads(out or "{}").get("moved") != 2:
            failures.append(f"reindex moved {out!r}, not the 2 one-session users' entries")
    start("old", f"{WORK}/latchkey-old")
    for t in (a1, b1, c1, c2):
        expect_live(t, "a session started under compact")
    print("== a second login of a one-session user on old, then old's CLI revokes the user's")
    a2 = sign_in("old", ua)
    expect_live(a1, "the first session, beside old's login")
    operator("old", "sessions", "revoke", "--user", ua["email"])
    for t in (a1, a2):
        expect_ended(t, "revoked_by_operator", "revoked with all the user's by old's operator")
    print("== old signs out a one-session user, lists and revokes all of the others")
    call("old", "POST", "/auth/logout", b1)
    expect_ended(b1, "signed_out", "signed out on old")
    if listed("old", c1) != {public_id(c1), public_id(c2)}:
        failures.append("old does not list both sessions started under compact")
    operator("old", "sessions", "revoke", "--all", "--yes")
    for t in (c1, c2):
        expect_ended(t, "revoked_by_operator", "revoked by old's operator")


try:
    if os.environ["ROLLBACK"] == "1":
        rollback()
    else:
        start("old", f"{WORK}/latchkey-old")
        start("new", f"{WORK}/latchkey-new")
    other = {"old": "new", "new": "old"}
    for a in ("old", "new") if os.environ["ROLLBACK"] != "1" else ():
        b = other[a]
        print(f"== sessions started on {a}, used and ended on {b}")
        user = new_user()
        first, second, third = (sign_in(a, user) for _ in range(3))
        for t in (first, second, third):
            expect_live(t, f"a session started on {a}")
        ids = {public_id(t) for t in (first, second, third)}
        for server in servers:
            if listed(server, first) != ids:
                failures.append(f"{server} does not list the 3 sessions started on {a}")
        status, _ = call(b, "DELETE", f"/api/sessions/{public_id(second)}", first)
        if status != 200:
            failures.append(f"{b} revoking a session started on {a}: {status}")
        expect_ended(second, "revoked", f"revoked by id on {b}")
        status, _ = call(b, "POST", "/auth/logout", third)
        expect_ended(third, "signed_out", f"signed out on {b}")
        expect_live(first, "the session left")
        if listed(b, first) != {public_id(first)}:
            failures.append(f"{b} lists more than the one session left")

        print(f"== users with one session, started on {a}, used and ended on {b}")
        only = sign_in(a, new_user())
        expect_live(only, f"the one session started on {a}")
        for server in servers:
            if listed(server, only) != {public_id(only)}:
                failures.append(f"{server} does not list the one session started on {a}")
        call(b, "POST", "/auth/logout", only)
        expect_ended(only, "signed_out", f"the one session, signed out on {b}")
        only = sign_in(a, new_user())
        operator(b, "sessions", "revoke", public_id(only))
        expect_ended(only, "revoked_by_operator", f"the one session, revoked by {b}'s operator")
        only = sign_in(a, new_user())
        user_id = user_id_of(a, only)
        if user_id:
            operator(b, "users", "disable", user_id)
            expect_ended(only, "account_disabled", f"the one session, disabled by {b}'s operator")
        user = new_user()
        first = sign_in(a, user)
        second = sign_in(b, user)
        for t in (first, second):
            expect_live(t, f"a second session, started on {b}")
        call(a, "POST", "/auth/logout", second)
        expect_ended(second, "signed_out", f"the second session, signed out on {a}")
        expect_live(first, "the first session, left alone")

        print(f"== the cap (3) across both: {a}, {b}, {a} then {b}")
        user = new_user()
        tokens = [sign_in(s, user) for s in (a, b, a)]
        tokens.append(sign_in(b, user))
        expect_ended(tokens[0], "evicted", f"evicted by a login on {b}")
        for t in tokens[1:]:
            expect_live(t, "a session within the cap")

        print(f"== all others revoked on {b}, then the operator's revocation by {b}'s CLI")
        user = new_user()
        keep, gone, mine = sign_in(a, user), sign_in(a, user), sign_in(b, user)
        status, body = call(b, "DELETE", "/api/sessions", keep)
        if status != 200 or body.get("revoked") != 2:
            failures.append(f"{b} revoking all others: {status} {body}")
        expect_ended(gone, "revoked", f"revoked with all others on {b}")
        expect_ended(mine, "revoked", f"revoked with all others on {b}")
        expect_live(keep, "the session that revoked the others")
        operator(b, "sessions", "revoke", public_id(keep))
        expect_ended(keep, "revoked_by_operator", f"revoked by {b}'s operator")

        print(f"== a user with sessions on both, disabled by {b}'s CLI")
        user = new_user()
        tokens = [sign_in(a, user), sign_in(b, user)]
        user_id = user_id_of(a, tokens[0])
        if not user_id:
            continue
        operator(b, "users", "disable", user_id)
        for t in tokens:
            expect_ended(t, "account_disabled", f"disabled by {b}'s operator")
finally:
    for s in servers.values():
        s["proc"].terminate()
    fakes.terminate()
    for s in servers.values():
        s["proc"].wait(timeout=10)

by_status = {}
for server, method, path, status in answers:
    by_status.setdefault(status, 0)
    by_status[status] += 1
print(f"== {len(answers)} answers: " + ", ".join(f"{n} x {s}" for s, n in sorted(by_status.items())))
for name in servers:
    with open(f"{WORK}/{name}.log") as log:
        errors = [line for line in log if '"ERROR"' in line or " ERROR " in line]
    if errors:
        failures.append(f"{name} logged {len(errors)} errors, first: {errors[0][:300]}")
if failures:
    print("FAIL")
    for f in failures:
        print("  - " + f)
    sys.exit(1)
print("PASS: nobody signed out, every ended session 401 on both, no 5xx")
PY
