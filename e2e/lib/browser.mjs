// One Chromium profile with the example extension loaded, and the popup driven as a user would.

import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

import { EXTENSION_DIR, EXTENSION_ID, EXTENSION_ORIGIN, control, outDir } from "./stack.mjs";

export const CHROMIUM = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  `--disable-extensions-except=${EXTENSION_DIR}`,
  `--load-extension=${EXTENSION_DIR}`,
  // Lets the test press the extension's toolbar button (CDP Extensions.triggerAction).
  "--enable-unsafe-extension-debugging",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--autoplay-policy=no-user-gesture-required",
];

export const POPUP_URL = `${EXTENSION_ORIGIN}/popup.html`;

export class Profile {
  /** Starts Chromium with a fresh profile and the extension pointed at `base`. */
  static async launch(name, { base, testName }) {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set E2E_CHROMIUM)`);
    }
    const userDataDir = mkdtempSync(path.join(tmpdir(), `latchkey-e2e-profile-${name}-`));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 960, height: 640 },
      deviceScaleFactor: 1,
      args: ARGS,
    });
    const profile = new Profile(name, context, userDataDir, base, outDir(testName));
    await profile.#init();
    return profile;
  }

  constructor(name, context, userDataDir, base, out) {
    this.name = name;
    this.context = context;
    this.userDataDir = userDataDir;
    this.base = base;
    this.out = out;
    this.shots = 0;
    this.logFile = path.join(out, `browser-${name}.log`);
  }

  log(line) {
    appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
  }

  async #init() {
    const isOurs = (w) => w.url().startsWith(EXTENSION_ORIGIN);
    this.worker =
      this.context.serviceWorkers().find(isOurs) ??
      (await this.context.waitForEvent("serviceworker", { predicate: isOurs, timeout: 15_000 }));
    // The fixed `key` in manifest.json gives the id we computed, in every profile.
    assert.equal(new URL(this.worker.url()).host, EXTENSION_ID, "extension id from the manifest key");
    this.worker.on("console", (m) => this.log(`[worker ${m.type()}] ${m.text()}`));
    this.context.on("page", (p) => {
      p.on("console", (m) => this.log(`[page ${p.url()} ${m.type()}] ${m.text()}`));
      p.on("pageerror", (e) => this.log(`[page ${p.url()} error] ${e.stack ?? e}`));
    });
    // One tab stays open all along, as in a browser someone uses: when the last tab closes,
    // Chromium ends the browser session and drops session cookies (the CSRF cookie is one).
    const [first, ...rest] = this.context.pages();
    this.home = first ?? (await this.context.newPage());
    for (const p of rest) await p.close().catch(() => {});
    await this.setBaseUrl(this.base);
  }

  /** Points the extension at `base` through its options page, as a developer would. */
  async setBaseUrl(base) {
    this.base = base;
    const page = await this.context.newPage();
    await page.goto(`${EXTENSION_ORIGIN}/options.html`);
    await page.locator("#extension-id").filter({ hasText: EXTENSION_ID }).waitFor();
    await page.fill("#base-url", base);
    await page.click("#save");
    await page.locator("#saved").filter({ hasText: `Saved: ${base}` }).waitFor();
    // The manifest's host permissions cover http://localhost on any port: no warning.
    assert.equal(await page.locator("#permission").isHidden(), true, "host permission covers the server");
    await page.close();
  }

  /** Opens the popup (as a tab: headless Chromium has no toolbar) once it knows its state. */
  async openPopup() {
    const page = await this.context.newPage();
    // Every request the popup makes, for asserting what the browser sent.
    page.sent = [];
    page.on("request", (r) => page.sent.push(r));
    await page.setViewportSize({ width: 352, height: 560 });
    await page.goto(POPUP_URL);
    await page.locator('#popup:not([data-state="loading"])').waitFor();
    return page;
  }

  /** A screenshot of the popup under the test's output folder; returns its path. */
  async shot(page, step) {
    this.shots += 1;
    const file = path.join(this.out, `${this.name}-${String(this.shots).padStart(2, "0")}-${step}.png`);
    // Web fonts settled (the tests wait for the avatar themselves), no caret.
    await page.evaluate(() => document.fonts.ready);
    await page.locator("#popup").screenshot({ path: file, animations: "disabled", caret: "hide" });
    return file;
  }

  /** Switches the extension to token mode through its options page, as a developer would. */
  async useTokenMode() {
    const page = await this.context.newPage();
    await page.goto(`${EXTENSION_ORIGIN}/options.html`);
    await page.selectOption("#mode", "token");
    await page.locator("#mode-saved").filter({ hasText: "Saved: token mode" }).waitFor();
    await page.close();
  }

  /** A new tab showing `url`. */
  async newTab(url) {
    const page = await this.context.newPage();
    await page.goto(url);
    return page;
  }

  /** Lets pages of `origin` read and write the clipboard (the test reads what was copied). */
  async grantClipboard(origin) {
    await this.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  }

  /** The cookies the browser holds for latchkey. */
  async cookies() {
    return this.context.cookies(this.base);
  }

  /**
   * Presses the extension's toolbar button on `page`'s tab, as a user clicking it: Chrome
   * grants the activeTab permission for that tab (which captureVisibleTab needs) and opens the
   * popup (headless, outside any page Playwright sees).
   */
  async pressToolbarButton(page) {
    const cdp = await this.context.browser().newBrowserCDPSession();
    try {
      const { targetInfos } = await cdp.send("Target.getTargets", { filter: [{ type: "tab" }] });
      const url = page.url();
      const tab = targetInfos.find((t) => t.type === "tab" && t.url === url);
      assert.ok(tab, `a tab target for ${url}`);
      await cdp.send("Extensions.triggerAction", { id: EXTENSION_ID, targetId: tab.targetId });
    } finally {
      await cdp.detach().catch(() => {});
    }
  }

  async close() {
    await this.context.close().catch(() => {});
    rmSync(this.userDataDir, { recursive: true, force: true });
  }
}

/** Who consents on the fake providers' pages next. */
export async function chooseUser(provider, user) {
  await control(`/${provider}/user`, user);
}

/**
 * Signs in from the popup: the provider's button, the consent page in the new tab, "Allow",
 * the callback's page. Returns the popup, reopened, showing the user.
 */
export async function signInFromPopup(profile, provider, { shoot = false } = {}) {
  const popup = await profile.openPopup();
  assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-out");
  if (shoot) await profile.shot(popup, "signed-out");
  const [tab] = await Promise.all([
    profile.context.waitForEvent("page"),
    popup.click(`#providers button[data-provider="${provider}"]`),
  ]);
  await tab.locator("#allow").waitFor();
  const [callback] = await Promise.all([
    tab.waitForResponse((r) => r.url().startsWith(`${profile.base}/auth/${provider}/callback?`)),
    tab.click("#allow"),
  ]);
  await tab.locator("h1", { hasText: "Signed in" }).waitFor();
  // Every Set-Cookie latchkey sent during the sign-in (CSRF, flow binding, session).
  const setCookies = [];
  for (const response of [...popup.sent.map((r) => r.response()), callback]) {
    const res = await response;
    if (!res || !res.url().startsWith(profile.base)) continue;
    for (const h of await res.headersArray()) {
      if (h.name.toLowerCase() === "set-cookie") setCookies.push(h.value);
    }
  }
  await tab.close();
  await popup.close();
  const reopened = await profile.openPopup();
  assert.equal(await reopened.locator("#popup").getAttribute("data-state"), "signed-in");
  reopened.setCookies = setCookies;
  return reopened;
}

/**
 * Signs in from the popup in token mode: the provider's button, the consent page in the
 * window identity.launchWebAuthFlow opens, "Allow"; the background exchanges the code. Returns
 * the popup, still open, showing the user.
 */
export async function signInWithToken(profile, provider) {
  const popup = await profile.openPopup();
  assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-out");
  const [consent] = await Promise.all([
    profile.context.waitForEvent("page", { timeout: 15_000 }),
    popup.click(`#providers button[data-provider="${provider}"]`),
  ]);
  await consent.locator("#allow").waitFor();
  await consent.click("#allow");
  await popup.locator('#popup[data-state="signed-in"]').waitFor({ timeout: 15_000 });
  return popup;
}

/** Chromium for the journeys that run in every browser (lib/capture.mjs). */
export const chromiumDriver = {
  name: "chromium",
  serverEnv: (mode) =>
    mode === "token" ? { LATCHKEY__EXTENSIONS__REDIRECT_URIS: `https://${EXTENSION_ID}.chromiumapp.org/` } : {},
  async launch(name, { base, testName, mode }) {
    const profile = await Profile.launch(name, { base, testName });
    if (mode === "token") await profile.useTokenMode();
    return profile;
  },
  signIn: (profile, mode) =>
    mode === "token" ? signInWithToken(profile, "google") : signInFromPopup(profile, "google"),
  /** The background's next request to the vision proxy, with its headers and answer. */
  async watchCapture(profile, base) {
    const request = await profile.context.waitForEvent("request", {
      predicate: (r) => r.url() === `${base}/api/openai/extract-subtitles`,
      timeout: 15_000,
    });
    return { request, headers: await request.allHeaders(), response: await request.response() };
  },
  /**
   * From the extension's service worker, with the extension's origin, this mode's credential
   * (the session cookie, or `Authorization: Bearer` and no cookie), a multipart body with a
   * whole frame, and no CSRF header. (The browser does not hand a Blob body to the inspector;
   * the frame is checked where it arrives, at the fake vision API.)
   */
  async checkCaptureRequest({ request, headers, response }, mode) {
    assert.ok(request.serviceWorker(), "sent by the background worker, not the page");
    assert.equal(request.method(), "POST");
    assert.equal(headers.origin, EXTENSION_ORIGIN);
    if (mode === "token") {
      assert.match(headers.authorization ?? "", /^Bearer [0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
      assert.equal(headers.cookie, undefined, "no cookie beside the bearer token");
    } else {
      assert.ok(cookieValue(headers.cookie, "__Host-latchkey_session"), "the session cookie was sent");
      assert.equal(headers.authorization, undefined);
    }
    assert.equal(headers["x-csrf-token"], undefined);
    assert.match(headers["content-type"], /^multipart\/form-data; boundary=/);
    assert.ok(Number(headers["content-length"]) > 1000, "a whole frame in the body");
    assert.equal(response.status(), 200);
    assert.deepEqual(await response.json(), { success: true, subtitles: "字幕その一" });
  },
  /** The refusal as the background received it: 429, quota_exceeded, Retry-After. */
  async checkRefusal({ response }) {
    assert.equal(response.status(), 429);
    assert.equal((await response.json()).code, "quota_exceeded");
    assert.ok(Number(await response.headerValue("retry-after")) > 0, "Retry-After");
  },
};

/** The text of an element, as in the DOM (not as CSS transforms it), trimmed. */
export async function text(page, selector) {
  return ((await page.locator(selector).textContent()) ?? "").trim();
}

/** The popup's request to `path` on latchkey (the last one), with the headers the browser sent. */
export async function sentBy(page, base, path) {
  const request = page.sent.filter((r) => r.url() === `${base}${path}`).at(-1);
  assert.ok(request, `the popup requested ${path}`);
  return { request, headers: await request.allHeaders(), response: await request.response() };
}

/** The value of `name` in a Cookie request header. */
export function cookieValue(header, name) {
  for (const part of (header ?? "").split(/;\s*/)) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq) === name) return part.slice(eq + 1);
  }
  return undefined;
}

/**
 * Records, through the DevTools protocol, the headers `page` really put on the wire (cookies
 * and Origin included), the status each answer had and why the browser failed it (a CORS
 * refusal), also for requests that CORS blocks, of which Playwright's own request objects only
 * know the provisional headers. For URLs starting with one of `bodiesFor`, the bodies the
 * browser received are kept too (paused at the response stage and read before any CORS rule
 * hides them from the page).
 */
export async function recordWire(page, { bodiesFor = [] } = {}) {
  const cdp = await page.context().newCDPSession(page);
  const byId = new Map();
  const bodies = [];
  const entry = (id) => {
    if (!byId.has(id)) byId.set(id, { id });
    return byId.get(id);
  };
  const lower = (headers) =>
    Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  cdp.on("Network.requestWillBeSent", (e) => {
    Object.assign(entry(e.requestId), { url: e.request.url, method: e.request.method, type: e.type });
  });
  cdp.on("Network.requestWillBeSentExtraInfo", (e) => {
    Object.assign(entry(e.requestId), { headers: lower(e.headers), cookies: e.associatedCookies });
  });
  cdp.on("Network.responseReceivedExtraInfo", (e) => {
    Object.assign(entry(e.requestId), { status: e.statusCode, responseHeaders: lower(e.headers) });
  });
  cdp.on("Network.loadingFinished", (e) => {
    entry(e.requestId).done = true;
  });
  cdp.on("Network.loadingFailed", (e) => {
    Object.assign(entry(e.requestId), {
      done: true,
      failed: e.errorText,
      cors: e.corsErrorStatus?.corsError,
    });
  });
  cdp.on("Fetch.requestPaused", async (e) => {
    try {
      const { body, base64Encoded } = await cdp.send("Fetch.getResponseBody", { requestId: e.requestId });
      bodies.push({
        url: e.request.url,
        method: e.request.method,
        status: e.responseStatusCode,
        body: base64Encoded ? Buffer.from(body, "base64").toString("utf8") : body,
      });
    } catch {
      // no body (a redirect, say)
    }
    await cdp.send("Fetch.continueRequest", { requestId: e.requestId }).catch(() => {});
  });
  await cdp.send("Network.enable");
  if (bodiesFor.length) {
    await cdp.send("Fetch.enable", {
      patterns: bodiesFor.map((prefix) => ({ urlPattern: `${prefix}*`, requestStage: "Response" })),
    });
  }
  return {
    /** The first finished request to `url` with `method` after `since` (from `mark()`). */
    async find(url, method, since = 0, timeout = 10_000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = [...byId.values()]
          .slice(since)
          .find((r) => r.url === url && r.method === method && r.headers && r.done);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ${method} ${url} on the wire`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** The first request to `url` with `method` after `since` that has ended, sent or not. */
    async ended(url, method, since = 0, timeout = 10_000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = [...byId.values()]
          .slice(since)
          .find((r) => r.url === url && r.method === method && r.done);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ${method} ${url} ended`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** The last body received for `url` with `method` (see `bodiesFor`), parsed as JSON. */
    json(url, method) {
      const found = bodies.filter((b) => b.url === url && b.method === method).at(-1);
      if (!found) throw new Error(`no body kept for ${method} ${url}`);
      return JSON.parse(found.body);
    },
    mark: () => byId.size,
    detach: () => cdp.detach().catch(() => {}),
  };
}
