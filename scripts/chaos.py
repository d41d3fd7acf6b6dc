#!/usr/bin/env python3
"""`make chaos`: latchkey's fault behaviour, run as an operator would, kept by a script.

Three replicas of the built binary behind Debian's haproxy (health check GET /readyz?exclude=database), wrk
sending signed-in requests (bearer tokens from real token-mode sign-ins through the fake
providers of `cargo run --example fakes`), and these scenarios, each against real components
on 127.0.0.1 only:

  rolling-restart   SIGTERM each replica in turn, wait for its exit, start it again
  redis-kill        the Redis (its own, on a free port, append-only file) killed for 5 s
  cluster-master    a Redis Cluster (3 masters + 3 replicas) master killed; replicas restarted
                    on the cluster first; recovery counted from the replica's promotion
  postgres          the database behind a TCP proxy that refuses, then black-holes
                    connections, while signed-in traffic and logins go on
  soak              CHAOS_SOAK seconds (default 300) of steady load: RSS and p99 per minute
  revoke-all        `latchkey sessions revoke --user U` against 50 concurrent logins of U

Per scenario it prints requests sent, failed by status, connection errors, time to recover,
p99, and what was lost (docs/operations.md, "Faults under load").

Knobs (environment): CHAOS_RATE (700 req/s), CHAOS_SOAK (300 s), CHAOS_SCENARIOS (comma list,
default all), LATCHKEY_BIN (default $CARGO_TARGET_DIR/release/latchkey, built when missing),
FAKES_BIN, CHAOS_DATABASE_URL (a PostgreSQL admin URL; default postgres://postgres@127.0.0.1:5432/postgres).
Bounded: every wait has a limit, every process it starts is stopped at the end.
"""

import base64
import html
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
RATE = int(os.environ.get("CHAOS_RATE", "700"))
SOAK = int(os.environ.get("CHAOS_SOAK", "300"))
USERS = 20
ALL = ["rolling-restart", "redis-kill", "cluster-master", "postgres", "soak", "revoke-all"]
WORK = tempfile.mkdtemp(prefix="latchkey-chaos-")
PROCS = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port(below=65535):
    """A loopback port that was free a moment ago (a Redis Cluster node needs one below 55536:
    its bus listens 10000 higher)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port <= below:
            return port
    raise SystemExit("chaos: no free port")


def wait_for(what, cond, limit=30.0, step=0.05):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(step)
    raise SystemExit(f"chaos: gave up waiting for {what} after {limit:.0f}s")


def spawn(args, env=None, log_name=None, stdin=None, stdout=None):
    out = open(os.path.join(WORK, log_name), "ab") if log_name else subprocess.DEVNULL
    p = subprocess.Popen(args, env=env, stdout=stdout or out, stderr=out, stdin=stdin,
                         start_new_session=True)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM, limit=60):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(limit)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


NO_REDIRECT = urllib.request.build_opener(NoRedirect)


def get_location(url, timeout=10):
    try:
        with NO_REDIRECT.open(url, timeout=timeout) as r:
            return r.status, r.headers.get("Location"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read()


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------
# Components


class Redis:
    """A redis-server of the run's own, persisted to an append-only file so a kill loses
    nothing that was acknowledged."""

    def __init__(self, port=None, cluster=False, node_timeout_ms=2000):
        self.port = port or free_port(below=55000 if cluster else 65535)
        self.dir = os.path.join(WORK, f"redis-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        self.args = ["redis-server", "--bind", HOST, "--port", str(self.port), "--dir", self.dir,
                     "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                     "--protected-mode", "no"]
        if cluster:
            self.args += ["--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms),
                          "--cluster-config-file", os.path.join(self.dir, "nodes.conf")]
        self.proc = None
        self.start()

    def start(self):
        self.proc = spawn(self.args, log_name=f"redis-{self.port}.log")
        wait_for(f"redis {self.port}", lambda: self.cli("PING") == "PONG")

    def kill(self):
        stop(self.proc, signal.SIGKILL)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=5)
        return r.stdout.strip()

    @property
    def url(self):
        return f"redis://{HOST}:{self.port}"


class Proxy:
    """A TCP proxy in front of PostgreSQL: `pass`, `refuse` (connections reset at once, open
    ones dropped) or `blackhole` (accepted, never answered)."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.mode = "pass"
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, self.port))
        self.sock.listen(256)
        threading.Thread(target=self.accept, daemon=True).start()

    def set(self, mode):
        self.mode = mode
        if mode != "pass":
            with self.lock:
                for c in self.conns:
                    try:
                        c.close()
                    except OSError:
                        pass
                self.conns.clear()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "refuse":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
                continue
            if self.mode == "blackhole":
                with self.lock:
                    self.conns.append(client)
                continue
            try:
                upstream = socket.create_connection((HOST, self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def build_binaries():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    bin_ = os.environ.get("LATCHKEY_BIN", os.path.join(target, "release", "latchkey"))
    if not os.path.exists(bin_):
        log("building the release binary (cargo build --release --bin latchkey)")
        subprocess.run(["cargo", "build", "--release", "--bin", "latchkey"], cwd=ROOT, check=True)
    fakes = os.environ.get("FAKES_BIN", os.path.join(target, "debug", "examples", "fakes"))
    if not os.path.exists(fakes):
        log("building the fake providers (cargo build --example fakes)")
        subprocess.run(["cargo", "build", "--example", "fakes"], cwd=ROOT, check=True)
    return bin_, fakes


class Deployment:
    """Three replicas, haproxy in front, on one Redis (or cluster) and one database."""

    def __init__(self, bin_, fakes_env, redis_env, db_url):
        self.bin = bin_
        self.ports = [free_port() for _ in range(3)]
        self.front = free_port()
        self.public = f"http://{HOST}:{self.front}"
        # latchkey refuses LATCHKEY_* variables it does not read: start from none of ours.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY")}
        self.env.update(fakes_env)
        self.env.update(redis_env)
        self.env.update({
            "LATCHKEY_ENV": "development",
            "LATCHKEY_CONFIG_DIR": os.path.join(ROOT, "config"),
            "LATCHKEY__DATABASE__URL": db_url,
            "LATCHKEY__SERVER__PUBLIC_URL": self.public,
            "LATCHKEY__REDIS__KEY_PREFIX": f"chaos{secrets.token_hex(4)}:",
            "LATCHKEY__LOG__FORMAT": "json",
            "LATCHKEY__LOG__LEVEL": "warn",
            "LATCHKEY__LIMITS__AUTH_PER_IP": "1000000",
            "LATCHKEY__LIMITS__VISION_PER_IP": "1000000",
            "LATCHKEY__LIMITS__VISION_PER_SESSION": "1000000",
            "LATCHKEY__LIMITS__SESSIONS_PER_SESSION": "1000000",
            "LATCHKEY__SESSION__MAX_PER_USER": "1000",
        })
        self.env.pop("RUST_LOG", None)
        run = subprocess.run([self.bin, "migrate", "up"], env=self.env, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise SystemExit(f"chaos: latchkey migrate up failed: {run.stderr.strip()}")
        self.procs = [None] * 3
        for i in range(3):
            self.start(i)
        self.haproxy = self.start_haproxy()

    def start(self, i):
        env = dict(self.env, LATCHKEY__SERVER__PORT=str(self.ports[i]))
        self.procs[i] = spawn([self.bin, "serve", "--no-migrate"], env=env, log_name=f"replica-{i}.log")
        wait_for(f"replica {i}", lambda: http("GET", f"http://{HOST}:{self.ports[i]}/readyz", timeout=2)[0] == 200, 60)

    def start_haproxy(self):
        # Checked with the probe the Kubernetes manifests use: /readyz?exclude=database,
        # ready while Redis answers. A database outage therefore leaves every replica in
        # rotation (signed-in requests need Redis only) instead of emptying the backend
        # (docs/operations.md, "Readiness and the database"). A refused connection to a
        # stopped replica is retried on another (retry-on, redispatch).
        servers = "\n".join(f"    server r{i} {HOST}:{p} check inter 500ms fall 2 rise 2" for i, p in enumerate(self.ports))
        cfg = f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
    retry-on conn-failure empty-response
frontend front
    bind {HOST}:{self.front}
    default_backend latchkey
backend latchkey
    balance roundrobin
    option httpchk GET /readyz?exclude=database
    http-check expect status 200
{servers}
"""
        path = os.path.join(WORK, f"haproxy-{self.front}.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        p = spawn(["haproxy", "-db", "-f", path], log_name="haproxy.log")
        wait_for("haproxy", lambda: http("GET", f"{self.public}/readyz", timeout=2)[0] == 200, 30)
        return p

    def up(self, i):
        return http("GET", f"http://{HOST}:{self.ports[i]}/readyz?exclude=database", timeout=2)[0] == 200

    def stop_all(self):
        for p in self.procs + [self.haproxy]:
            if p:
                stop(p)


# ---------------------------------------------------------------------------------------------
# Sign-ins (token mode, through the fake Google) and load


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign_in(dep, control, sub):
    """A token-mode Google sign-in of user `sub`; the bearer token, or an error string."""
    http("POST", f"{control}/google/user", {"sub": sub, "email": f"{sub}@example.com", "name": sub,
                                            "email_verified": True})
    return sign_in_as_current(dep)


def sign_in_as_current(dep):
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    redirect = f"{dep.public}/auth/complete"
    q = urllib.parse.urlencode({"mode": "token", "redirect_uri": redirect, "code_challenge": challenge,
                                "code_challenge_method": "S256"})
    status, _, body = http("GET", f"{dep.public}/auth/google/login?{q}")
    if status != 200:
        return None, f"login {status} {error_code(body)}"
    auth_url = json.loads(body)["authUrl"]
    status, _, page = http("GET", auth_url)
    m = re.search(rb'id="allow"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*id="allow"', page)
    if status != 200 or not m:
        return None, f"consent {status}"
    allow = urllib.parse.urljoin(auth_url, html.unescape((m.group(1) or m.group(2)).decode()))
    status, callback, _ = get_location(allow)
    if status != 302 or not callback:
        return None, f"decision {status}"
    cb = urllib.parse.urlsplit(callback)
    status, done, body = get_location(f"{dep.public}{cb.path}?{cb.query}")
    if status != 302 or not done:
        return None, f"callback {status} {body[:80]!r}"
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(done).query)
    code = params.get("code", [None])[0]
    if not code:
        # Token mode reports a refusal to the extension in the redirect: ?error=<code>.
        return None, f"callback {params.get('error', ['?'])[0]}"
    status, _, body = http("POST", f"{dep.public}/auth/token", {"code": code, "code_verifier": verifier})
    if status != 200:
        return None, f"token {status} {error_code(body)}"
    return json.loads(body)["session_token"], None


def error_code(body):
    try:
        return json.loads(body).get("code", "")
    except (ValueError, AttributeError):
        return body[:40].decode(errors="replace").strip() or "-"


def user_info(dep, token, timeout=5):
    try:
        return http("GET", f"{dep.public}/api/user/info", headers={"Authorization": f"Bearer {token}"},
                    timeout=timeout)[0]
    except OSError:
        return "conn"


WRK_LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("CHAOS_TOKENS")) do tokens[#tokens + 1] = line end
local delay_ms = tonumber(os.getenv("CHAOS_DELAY_MS"))
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} ; n = 0 end
function delay() return delay_ms end
function request()
  n = n + 1
  return wrk.format("GET", "/api/user/info", {["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]})
end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do all[k] = (all[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.write(string.format('CHAOS {"requests":%d,"status":{%s},"connect":%d,"read":%d,"write":%d,"timeout":%d,"p99_ms":%.2f,"p50_ms":%.2f}\n',
    summary.requests, table.concat(parts, ","), e.connect, e.read, e.write, e.timeout,
    latency:percentile(99) / 1000, latency:percentile(50) / 1000))
end
"""


class Load:
    """wrk at about RATE req/s on /api/user/info with the tokens, for `seconds`."""

    def __init__(self, dep, tokens, seconds):
        path = os.path.join(WORK, "tokens.txt")
        with open(path, "w") as f:
            f.write("\n".join(tokens) + "\n")
        script = os.path.join(WORK, "load.lua")
        with open(script, "w") as f:
            f.write(WRK_LUA)
        conns = max(4, RATE // 50)
        env = dict(os.environ, CHAOS_TOKENS=path, CHAOS_DELAY_MS=str(max(1, int(1000 * conns / RATE))))
        self.proc = subprocess.Popen(["wrk", "-t", "2", "-c", str(conns), "-d", f"{seconds}s", "--timeout", "5s",
                                      "-s", script, dep.public], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        PROCS.append(self.proc)

    def result(self):
        out, _ = self.proc.communicate(timeout=SOAK + 600)
        line = next((l for l in out.splitlines() if l.startswith("CHAOS ")), None)
        if not line:
            raise SystemExit(f"chaos: wrk printed no result:\n{out}")
        return json.loads(line[6:])


class Probe:
    """One signed-in request every 10 ms through haproxy, as a timeline of (time, outcome)."""

    def __init__(self, dep, token):
        self.dep, self.token = dep, token
        self.timeline = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            t = time.monotonic()
            self.timeline.append((t, user_info(self.dep, self.token, timeout=5)))
            time.sleep(max(0.0, 0.01 - (time.monotonic() - t)))

    def stop(self):
        self.running = False
        self.thread.join(10)

    def first(self, after, pred):
        return next((t for t, s in self.timeline if t >= after and pred(s)), None)


def summary(name, load, probe=None, fault_at=None, repaired_at=None, lost="0", note=""):
    failed = {k: v for k, v in load["status"].items() if not k.startswith("2")}
    conn_errors = load["connect"] + load["read"] + load["write"] + load["timeout"]
    recover = "-"
    if probe and fault_at is not None:
        first_bad = probe.first(fault_at, lambda s: s != 200)
        if first_bad is None:
            recover = "no failure"
        elif repaired_at is not None:
            back = probe.first(max(repaired_at, first_bad), lambda s: s == 200)
            recover = f"{back - repaired_at:.2f}s" if back else "never"
            note = (note + f"; first failure {first_bad - fault_at:.2f}s after the fault").lstrip("; ")
    return {"scenario": name, "requests": load["requests"],
            "failed": ", ".join(f"{k}: {v}" for k, v in sorted(failed.items())) or "0",
            "conn errors": conn_errors, "recover": recover, "p99": f"{load['p99_ms']:.1f} ms",
            "lost": lost, "note": note}


def lost_sessions(dep, tokens):
    gone = sum(1 for t in tokens if user_info(dep, t) != 200)
    return f"{gone} of {len(tokens)} sessions"


# ---------------------------------------------------------------------------------------------
# Scenarios


def rolling_restart(dep, tokens, control):
    seconds = 60
    load = Load(dep, tokens, seconds)
    probe = Probe(dep, tokens[0])
    time.sleep(3)
    for i in range(3):
        stop(dep.procs[i], signal.SIGTERM)
        dep.start(i)
        wait_for(f"haproxy to take replica {i} back", lambda: dep.up(i), 30)
        time.sleep(2)
    res = load.result()
    probe.stop()
    return summary("rolling restart", res, probe, lost=lost_sessions(dep, tokens),
                   note="each replica SIGTERM, exit, start; default drain")


def redis_kill(dep, tokens, control, redis):
    load = Load(dep, tokens, 30)
    probe = Probe(dep, tokens[0])
    time.sleep(5)
    fault = time.monotonic()
    redis.kill()
    time.sleep(5)
    redis.start()
    repaired = time.monotonic()
    res = load.result()
    probe.stop()
    return summary("Redis killed 5 s", res, probe, fault, repaired, lost=lost_sessions(dep, tokens))


def postgres(dep, tokens, control, proxy):
    load = Load(dep, tokens, 40)
    probe = Probe(dep, tokens[0])
    outcomes = {}

    def logins(label, n):
        with ThreadPoolExecutor(8) as ex:
            for tok, err in ex.map(lambda i: sign_in(dep, control, f"pg{label}{i}"), range(n)):
                key = f"{label}: " + ("signed in" if tok else err)
                outcomes[key] = outcomes.get(key, 0) + 1

    time.sleep(3)
    proxy.set("refuse")
    logins("refused", 10)
    time.sleep(5)
    proxy.set("blackhole")
    t = time.monotonic()
    logins("black-holed", 5)
    slowest = time.monotonic() - t
    time.sleep(3)
    proxy.set("pass")
    logins("after", 5)
    res = load.result()
    probe.stop()
    bad = [k for k in outcomes if " 500" in k or "internal" in k]
    return summary("PostgreSQL refused / black-holed", res, lost=lost_sessions(dep, tokens),
                   note=f"logins {dict(sorted(outcomes.items()))}; black-holed logins took up to {slowest:.1f}s"
                   + ("; A 500!" if bad else ""))


def soak(dep, tokens, control):
    before = [rss_kb(p.pid) for p in dep.procs]
    cpu_before = sum(cpu_seconds(p.pid) for p in dep.procs)
    minutes = []
    total = {"requests": 0, "status": {}, "connect": 0, "read": 0, "write": 0, "timeout": 0, "p99_ms": 0.0}
    left = SOAK
    while left > 0:
        seg = min(60, left)
        r = Load(dep, tokens, seg).result()
        minutes.append(r["p99_ms"])
        for k in ("requests", "connect", "read", "write", "timeout"):
            total[k] += r[k]
        for k, v in r["status"].items():
            total["status"][k] = total["status"].get(k, 0) + v
        total["p99_ms"] = max(total["p99_ms"], r["p99_ms"])
        left -= seg
    after = [rss_kb(p.pid) for p in dep.procs]
    cpu = sum(cpu_seconds(p.pid) for p in dep.procs) - cpu_before
    # The replicas' CPU per request, scaled: cores busy at 1,000 signed-in requests a second.
    per_1000 = cpu / max(1, total["requests"]) * 1000
    growth = ", ".join(f"{(a - b):+d} KB" for a, b in zip(after, before))
    return summary(f"soak {SOAK} s", total, lost=lost_sessions(dep, tokens),
                   note=f"RSS {', '.join(str(a // 1024) + ' MB' for a in after)} (change {growth}); "
                   f"CPU {per_1000:.2f} core at 1,000 req/s; "
                   f"p99 per minute {', '.join(f'{m:.1f}' for m in minutes)} ms")


def revoke_all(dep, tokens, control):
    """50 concurrent logins of one user racing `sessions revoke --user`: every session that
    existed when the revoke began must be gone."""
    load = Load(dep, tokens, 20)
    sub = f"racer{secrets.token_hex(3)}"
    older = [t for t in (sign_in(dep, control, sub)[0] for _ in range(10)) if t]
    http("POST", f"{control}/google/user", {"sub": sub, "email": f"{sub}@example.com", "name": sub,
                                            "email_verified": True})
    results = []

    def login(_):
        t0 = time.monotonic()
        tok, _err = sign_in_as_current(dep)
        results.append((t0, time.monotonic(), tok))

    with ThreadPoolExecutor(50) as ex:
        futures = [ex.submit(login, i) for i in range(50)]
        time.sleep(0.3)
        started = time.monotonic()
        run = subprocess.run([dep.bin, "sessions", "revoke", "--user", f"{sub}@example.com"], env=dep.env,
                             capture_output=True, text=True, timeout=60)
        ended = time.monotonic()
        for f in futures:
            f.result(120)
    before = older + [tok for t0, t1, tok in results if tok and t1 < started]
    survived = sum(1 for t in before if user_info(dep, t) == 200)
    res = load.result()
    return summary("revoke-all vs 50 logins", res, lost="-",
                   note=f"{run.stdout.strip()}; {len(before)} sessions older than the revoke, {survived} survived; "
                   f"{sum(1 for r in results if r[2])} logins succeeded, "
                   f"{sum(1 for t0, t1, tok in results if tok and t0 > ended and user_info(dep, tok) == 200)} "
                   "started after it and live")


def cluster_master(bin_, fakes_env, control, db_url):
    nodes = [Redis(cluster=True) for _ in range(6)]
    subprocess.run(["redis-cli", "--cluster", "create", *[f"{HOST}:{n.port}" for n in nodes],
                    "--cluster-replicas", "1", "--cluster-yes"], check=True, capture_output=True, timeout=60)
    wait_for("the cluster", lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes), 30)
    env = {"LATCHKEY__REDIS__CLUSTER_NODES": ",".join(n.url for n in nodes[:3])}
    dep = Deployment(bin_, fakes_env, env, db_url)
    try:
        tokens = [t for t in (sign_in(dep, control, f"cl{i}")[0] for i in range(USERS)) if t]
        # The masters are the first three; kill the one that serves the first token's user,
        # as found by asking which of the users' requests fail with it gone.
        victim = next(n for n in nodes[:3] if "master" in n.cli("ROLE").split("\n")[0])
        victim_id = victim.cli("CLUSTER", "MYID")
        load = Load(dep, tokens, 40)
        time.sleep(5)
        fault = time.monotonic()
        victim.kill()
        survivor = next(n for n in nodes if n is not victim)
        # The replica's promotion: a survivor's view of the slots no longer names the victim.
        promoted = None

        def failover_done():
            """Three masters that serve slots again, none of them the victim."""
            nonlocal promoted
            serving = []
            for line in survivor.cli("CLUSTER", "NODES").splitlines():
                f = line.split()
                flags = f[2].split(",") if len(f) > 2 else []
                if len(f) > 8 and "master" in flags and "fail" not in flags and f[0] != victim_id:
                    serving.append(f[0])
            if len(serving) == 3:
                promoted = time.monotonic()
                return True
            return False

        wait_for("the replica's promotion", failover_done, 60, 0.02)
        # Users of the killed master: those whose request fails right after the kill; count how
        # long until every token answers again after the promotion.
        back = None
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if all(user_info(dep, t, timeout=3) == 200 for t in tokens):
                back = time.monotonic()
                break
            time.sleep(0.05)
        res = load.result()
        recover = f"{back - promoted:.2f}s after promotion" if back else "never"
        out = summary("cluster master killed", res, lost=lost_sessions(dep, tokens),
                      note=f"promotion {promoted - fault:.2f}s after the kill (cluster-node-timeout 2s)")
        out["recover"] = recover
        return out
    finally:
        dep.stop_all()
        for n in nodes:
            stop(n.proc, signal.SIGKILL)


def main():
    for tool in ("haproxy", "wrk", "redis-server", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit(f"chaos: {tool} is missing (apt-get install haproxy wrk redis-server)")
    wanted = [s.strip() for s in os.environ.get("CHAOS_SCENARIOS", ",".join(ALL)).split(",") if s.strip()]
    bin_, fakes_bin = build_binaries()
    fakes = spawn([fakes_bin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, log_name="fakes.log")
    info = json.loads(fakes.stdout.readline())
    fakes_env, control = info["env"], info["control"]

    admin = os.environ.get("CHAOS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    db = f"lk_chaos_{int(time.time())}"
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{db}"'], check=True, timeout=30)
    pg_port = urllib.parse.urlsplit(admin).port or 5432
    proxy = Proxy(pg_port)
    user = urllib.parse.urlsplit(admin).username or "postgres"
    db_url = f"postgres://{user}@{HOST}:{proxy.port}/{db}"
    rows = []
    try:
        if set(wanted) - {"cluster-master"}:
            redis = Redis()
            dep = Deployment(bin_, fakes_env, {"LATCHKEY__REDIS__URL": redis.url}, db_url)
            log(f"3 replicas behind haproxy at {dep.public}; signing in {USERS} users")
            tokens = [t for t in (sign_in(dep, control, f"user{i}")[0] for i in range(USERS)) if t]
            if len(tokens) != USERS:
                raise SystemExit(f"chaos: only {len(tokens)} of {USERS} sign-ins worked ({WORK}/replica-*.log)")
            steps = {
                "rolling-restart": lambda: rolling_restart(dep, tokens, control),
                "redis-kill": lambda: redis_kill(dep, tokens, control, redis),
                "postgres": lambda: postgres(dep, tokens, control, proxy),
                "soak": lambda: soak(dep, tokens, control),
                "revoke-all": lambda: revoke_all(dep, tokens, control),
            }
            for name in [w for w in wanted if w in steps]:
                log(f"scenario {name}")
                rows.append(steps[name]())
                print_row(rows[-1])
            dep.stop_all()
            stop(redis.proc)
        if "cluster-master" in wanted:
            log("scenario cluster-master")
            rows.append(cluster_master(bin_, fakes_env, control, db_url))
            print_row(rows[-1])
    finally:
        for p in reversed(PROCS):
            if p.poll() is None:
                stop(p, limit=10)
        subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'], timeout=30)
        shutil.rmtree(WORK, ignore_errors=True)
    print_table(rows)


def print_row(row):
    log("  " + "; ".join(f"{k}: {v}" for k, v in row.items() if k != "scenario"))


def print_table(rows):
    cols = ["scenario", "requests", "failed", "conn errors", "recover", "p99", "lost"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols} if rows else {}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for r in rows:
        print(" | ".join(str(r[c]).ljust(widths[c]) for c in cols))
    for r in rows:
        if r.get("note"):
            print(f"  {r['scenario']}: {r['note']}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
