// What a test file needs around the browser: the fakes (started once by run.mjs), a latchkey
// server of its own, a static server for the test pages, and the latchkey CLI.

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, createReadStream, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = path.resolve(E2E_DIR, "..");
export const EXTENSION_DIR = path.join(REPO, "examples", "extension");
export const OUT_DIR = process.env.E2E_OUT ?? path.join(E2E_DIR, "test-results");

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser tests through e2e/run.mjs (make e2e)`);
  }
  return value;
}

/** The fakes' URLs and the LATCHKEY__… variables that point latchkey at them (run.mjs). */
export const fakes = JSON.parse(process.env.E2E_FAKES ?? "null");

/** The extension's id, from the `key` in its manifest (how Chrome derives it). */
export function extensionId() {
  const manifest = JSON.parse(readFileSync(path.join(EXTENSION_DIR, "manifest.json"), "utf8"));
  const der = Buffer.from(manifest.key, "base64");
  const hex = createHash("sha256").update(der).digest("hex").slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + Number.parseInt(c, 16))).join("");
}

export const EXTENSION_ID = extensionId();
export const EXTENSION_ORIGIN = `chrome-extension://${EXTENSION_ID}`;

/** A folder under the test output for one test file's screenshots and logs. */
export function outDir(name) {
  const dir = path.join(OUT_DIR, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A knob on the fakes' control endpoint (see examples/fakes.rs). */
export async function control(route, body) {
  const res = await fetch(`${fakes.control}${route}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`fakes ${route}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** How many requests reached the fake vision API so far. */
export async function visionCalls() {
  return (await control("/openai/calls")).calls;
}

/** The image in the last request that reached the fake vision API, as a Buffer. */
export async function lastVisionImage() {
  const res = await fetch(`${fakes.control}/openai/last-image`);
  if (!res.ok) throw new Error(`fakes /openai/last-image: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The media type of the image in the last request that reached the fake vision API. */
export async function lastVisionImageType() {
  return (await control("/openai/calls")).last_image_type;
}

/**
 * Starts `latchkey serve` (the built binary) on a free port with the test configuration, a
 * fresh SQLite database, its own Redis key prefix, the fakes as providers and vision API, and
 * this extension's origin allowed. Public URL on `localhost`: a secure context for the browser.
 */
export async function startLatchkey(name, extraEnv = {}) {
  const bin = required("E2E_LATCHKEY_BIN");
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), `latchkey-e2e-${name}-`));
  const base = `http://localhost:${port}`;
  const env = {
    LATCHKEY_ENV: "test",
    LATCHKEY_CONFIG_DIR: path.join(REPO, "config"),
    LATCHKEY__LOG__LEVEL: "info",
    LATCHKEY__SERVER__PORT: String(port),
    LATCHKEY__SERVER__PUBLIC_URL: base,
    LATCHKEY__DATABASE__URL: `sqlite://${dataDir}/e2e.db?mode=rwc`,
    LATCHKEY__REDIS__URL: process.env.LATCHKEY__REDIS__URL ?? "redis://127.0.0.1:6379",
    LATCHKEY__REDIS__KEY_PREFIX: `e2e:${randomBytes(6).toString("hex")}:`,
    LATCHKEY__CORS__ALLOWED_ORIGINS: EXTENSION_ORIGIN,
    LATCHKEY__PLANS__FREE__DAILY_OCR_LIMIT: "3",
    ...fakes.env,
    ...extraEnv,
  };
  const childEnv = { ...process.env, ...env };
  delete childEnv.RUST_LOG;
  const log = path.join(outDir(name), "latchkey.log");
  const logFd = openSync(log, "w");
  const child = spawn(bin, ["serve"], { env: childEnv, stdio: ["ignore", logFd, logFd] });
  let exited = null;
  running.add(child);
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    running.delete(child);
  });
  child.on("error", (error) => (exited = { error: String(error) }));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      throw new Error(`latchkey serve exited (${JSON.stringify(exited)}); see ${log}:\n${readFileSync(log, "utf8").slice(-2000)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`latchkey serve did not answer in 30 s; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    base,
    port,
    env,
    log,
    /** Runs the latchkey CLI with this server's configuration. */
    cli(...args) {
      const run = spawnSync(bin, args, { env: childEnv, encoding: "utf8", timeout: 30_000 });
      return { status: run.status, stdout: run.stdout, stderr: run.stderr };
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The statuses latchkey logged for its answers on `path`, in order, from a server started
 * with LATCHKEY__LOG__FORMAT=json: what the server answered where the driver cannot see the
 * request (a Firefox extension's background).
 */
export function loggedStatuses(server, path) {
  return readFileSync(server.log, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line))
    .filter((e) => e.message === "request" && e.span?.path === path)
    .map((e) => e.status);
}

// Servers still running when this test process ends (a failure or an interruption) go with it.
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const TYPES = { ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".js": "text/javascript" };

/** Serves e2e/pages/ on a free loopback port: the video page, the hostile page, avatars. */
export async function startPages() {
  const root = path.join(E2E_DIR, "pages");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/cookie-probe") {
      // A control for the cookie checks: the browser must keep the well-formed `__Host-`
      // cookie and drop the one with a Domain, so accepting latchkey's means something.
      res.writeHead(200, [
        ["content-type", "text/plain"],
        ["set-cookie", "__Host-probe_ok=1; Path=/; Secure; HttpOnly; SameSite=None"],
        ["set-cookie", "__Host-probe_domain=1; Domain=localhost; Path=/; Secure; SameSite=None"],
        ["set-cookie", "__Host-probe_path=1; Path=/sub; Secure; SameSite=None"],
        ["set-cookie", "__Host-probe_insecure=1; Path=/; SameSite=Lax"],
      ]);
      res.end("probe");
      return;
    }
    const file = path.join(root, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ""));
    let stat;
    try {
      stat = statSync(file);
    } catch {
      stat = null;
    }
    if (!file.startsWith(root) || !stat?.isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    origin: `http://localhost:${port}`,
    url: (p) => `http://localhost:${port}${p}`,
    stop: () => new Promise((r) => server.close(r)),
  };
}
