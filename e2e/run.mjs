#!/usr/bin/env node
// The browser tests' runner (`make e2e`): builds latchkey and the fakes runner, starts the fake
// Google, GitHub and vision API once, then runs e2e/tests/*.test.mjs with node's test runner,
// one file at a time (each file starts its own latchkey and browser profiles), Chromium's files
// first, then Firefox ESR's. Screenshots and
// logs land in e2e/test-results/ (or $E2E_OUT).
//
//   node e2e/run.mjs                      # every test file
//   node e2e/run.mjs capture deny         # only the files whose names contain these words
//   node e2e/run.mjs --update-docs        # also copy the three docs screenshots to docs/images/
//
// E2E_LATCHKEY_BIN and E2E_FAKES_BIN name prebuilt binaries and skip the build.
//
// Needs Chromium at /usr/bin/chromium (apt-get install chromium; or set E2E_CHROMIUM), Firefox
// ESR at /usr/bin/firefox-esr (apt-get install firefox-esr; or set E2E_FIREFOX), a Redis
// at LATCHKEY__REDIS__URL (default redis://127.0.0.1:6379; `make e2e` starts one when none
// answers), and `npm ci` in e2e/.

import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(E2E_DIR, "..");
const OUT = process.env.E2E_OUT ?? path.join(E2E_DIR, "test-results");
const started = Date.now();

const args = process.argv.slice(2);
const updateDocs = args.includes("--update-docs");
const filters = args.filter((a) => !a.startsWith("--"));

function say(line) {
  process.stderr.write(`e2e: ${line}\n`);
}

/**
 * Builds the server and the fakes runner; returns their executables, wherever the target dir
 * is. E2E_LATCHKEY_BIN and E2E_FAKES_BIN, both set, skip the build.
 */
function build() {
  if (process.env.E2E_LATCHKEY_BIN && process.env.E2E_FAKES_BIN) {
    return {
      latchkey: path.resolve(process.env.E2E_LATCHKEY_BIN),
      fakes: path.resolve(process.env.E2E_FAKES_BIN),
    };
  }
  say("cargo build --bin latchkey --example fakes");
  const run = spawnSync(
    "cargo",
    ["build", "--bin", "latchkey", "--example", "fakes", "--message-format=json-render-diagnostics"],
    { cwd: REPO, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (run.status !== 0) {
    say("the build failed");
    process.exit(run.status ?? 1);
  }
  const exes = {};
  for (const line of run.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const msg = JSON.parse(line);
    if (msg.reason === "compiler-artifact" && msg.executable) exes[msg.target.name] = msg.executable;
  }
  if (!exes.latchkey || !exes.fakes) {
    say(`cargo did not report both executables: ${JSON.stringify(exes)}`);
    process.exit(1);
  }
  return exes;
}

/** Starts the fakes runner and reads the JSON line it prints. It stops when its stdin closes. */
async function startFakes(bin) {
  const child = spawn(bin, [], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the fakes did not start in 30 s")), 30_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once("exit", (code) => reject(new Error(`the fakes exited with ${code}`)));
  });
  return { child, info: JSON.parse(first) };
}

function testFiles() {
  const dir = path.join(E2E_DIR, "tests");
  const all = readdirSync(dir)
    .filter((f) => f.endsWith(".test.mjs"))
    .sort();
  const chosen = filters.length ? all.filter((f) => filters.some((w) => f.includes(w))) : all;
  if (chosen.length === 0) {
    say(`no test file matches ${filters.join(", ")}`);
    process.exit(2);
  }
  return chosen.map((f) => path.join(dir, f));
}

const chromium = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(chromium)) {
  say(`no Chromium at ${chromium}: apt-get install -y chromium (or set E2E_CHROMIUM)`);
  process.exit(2);
}
const firefox = process.env.E2E_FIREFOX ?? "/usr/bin/firefox-esr";
if (!existsSync(firefox)) {
  say(`no Firefox at ${firefox}: apt-get install -y firefox-esr (or set E2E_FIREFOX)`);
  process.exit(2);
}
for (const pkg of ["playwright-core", "puppeteer-core"]) {
  if (!existsSync(path.join(E2E_DIR, "node_modules", pkg))) {
    say(`${pkg} is not installed: run \`npm ci\` in e2e/`);
    process.exit(2);
  }
}

const exes = build();
const fakes = await startFakes(exes.fakes);
say(`fakes: google ${fakes.info.google}, github ${fakes.info.github}, vision ${fakes.info.openai}`);
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// Chromium's files, then Firefox's: two runs of node's test runner, which orders the files of
// one run itself.
const files = testFiles();
const isFirefox = (f) => path.basename(f).startsWith("firefox");
const groups = [files.filter((f) => !isFirefox(f)), files.filter(isFirefox)].filter((g) => g.length);
let runner = null;
const stop = () => runner?.kill("SIGTERM");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
let code = 0;
for (const group of groups) {
  runner = spawn(
    process.execPath,
    ["--test", "--test-concurrency=1", "--test-reporter=spec", ...group],
    {
      cwd: E2E_DIR,
      stdio: "inherit",
      env: {
        ...process.env,
        E2E_FAKES: JSON.stringify(fakes.info),
        E2E_LATCHKEY_BIN: exes.latchkey,
        E2E_OUT: OUT,
      },
    },
  );
  const status = await new Promise((resolve) => runner.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
  if (code === 0) code = status;
}

fakes.child.stdin.end();
await new Promise((resolve) => {
  const timer = setTimeout(() => {
    fakes.child.kill("SIGKILL");
    resolve();
  }, 5000);
  fakes.child.once("exit", () => {
    clearTimeout(timer);
    resolve();
  });
});

if (updateDocs && code === 0) {
  // The three pictures docs/extension.md shows, from this run's screenshots.
  const docs = path.join(REPO, "docs", "images");
  mkdirSync(docs, { recursive: true });
  for (const [dir, suffix, to] of [
    ["signin", "alice-01-signed-out.png", "extension-signed-out.png"],
    ["capture", "-signed-in-usage.png", "extension-signed-in.png"],
    ["capture", "-quota-reached.png", "extension-quota-reached.png"],
  ]) {
    const name = readdirSync(path.join(OUT, dir)).find((f) => f.endsWith(suffix));
    if (!name) {
      say(`no ${dir}/*${suffix} in this run: docs/images/${to} not updated`);
      continue;
    }
    copyFileSync(path.join(OUT, dir, name), path.join(docs, to));
    say(`docs/images/${to} ← ${dir}/${name}`);
  }
}

say(`screenshots and logs: ${path.relative(process.cwd(), OUT) || OUT}`);
say(`finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(code);
