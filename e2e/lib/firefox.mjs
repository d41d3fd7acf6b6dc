// One Firefox ESR profile with the example extension installed as a temporary add-on, driven
// through WebDriver BiDi by puppeteer-core. Firefox uses token mode (the extension's default
// there): the bearer token lives in the background, and sign-in runs in
// identity.launchWebAuthFlow's window, opened on latchkey's login URL with response=redirect
// (see examples/extension/token.js for why).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import puppeteer from "puppeteer-core";

import { E2E_DIR, EXTENSION_DIR, outDir } from "./stack.mjs";

export const FIREFOX = process.env.E2E_FIREFOX ?? "/usr/bin/firefox-esr";
export const GECKO_ID = JSON.parse(readFileSync(path.join(EXTENSION_DIR, "manifest.json"), "utf8"))
  .browser_specific_settings.gecko.id;
/**
 * `identity.getRedirectURL()` of the extension: Firefox derives the host from the add-on id
 * (the SHA-1 of it, in hex). The options page shows it; the tests check the two agree.
 */
export const FIREFOX_REDIRECT_URI = `https://${createHash("sha1").update(GECKO_ID).digest("hex")}.extensions.allizom.org/`;
/** Fixed by the preference extensions.webextensions.uuids, so the tests know the origin. */
export const FIREFOX_UUID = "6c0ffee0-1a7c-4e2b-9d3f-5a1b2c3d4e5f";
export const FIREFOX_ORIGIN = `moz-extension://${FIREFOX_UUID}`;

/** The extension plus the test-only hook (firefox/hook.js), in a temporary folder. */
function testBuild() {
  const dir = mkdtempSync(path.join(tmpdir(), "latchkey-e2e-firefox-ext-"));
  cpSync(EXTENSION_DIR, dir, { recursive: true });
  copyFileSync(path.join(E2E_DIR, "firefox", "hook.js"), path.join(dir, "e2e-hook.js"));
  const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"));
  manifest.background.scripts = ["e2e-hook.js", ...manifest.background.scripts];
  writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return dir;
}

export class FirefoxProfile {
  /** Starts Firefox ESR with a fresh profile, installs the extension, points it at `base`. */
  static async launch(name, { base, testName, pages }) {
    if (!existsSync(FIREFOX)) {
      throw new Error(`no Firefox at ${FIREFOX}: apt-get install -y firefox-esr (or set E2E_FIREFOX)`);
    }
    const extDir = testBuild();
    const browser = await puppeteer.launch({
      browser: "firefox",
      executablePath: FIREFOX,
      headless: true,
      defaultViewport: { width: 960, height: 640 },
      // Lets the driver reach the browser window (see pressToolbarButton).
      args: ["--remote-allow-system-access"],
      extraPrefsFirefox: {
        // The test reads what the content script copied; without this Firefox asks the user
        // before a page reads the clipboard.
        "dom.events.testing.asyncClipboard": true,
        "extensions.webextensions.uuids": JSON.stringify({ [GECKO_ID]: FIREFOX_UUID }),
        // Manifest V3 host permissions are opt-in in Firefox; a user accepts them at install
        // (a temporary add-on has no install prompt to accept).
        "extensions.originControls.grantByDefault": true,
      },
    });
    const profile = new FirefoxProfile(name, browser, extDir, base, outDir(testName), pages);
    try {
      const id = await browser.installExtension(extDir);
      if (id !== GECKO_ID) throw new Error(`installed ${id}, expected ${GECKO_ID}`);
      await profile.setBaseUrl(base);
    } catch (error) {
      await profile.close();
      throw error;
    }
    return profile;
  }

  constructor(name, browser, extDir, base, out, pages) {
    this.name = name;
    this.browser = browser;
    this.extDir = extDir;
    this.base = base;
    this.out = out;
    this.pages = pages;
    this.shots = 0;
    this.logFile = path.join(out, `firefox-${name}.log`);
  }

  log(line) {
    appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
  }

  /** A new tab showing the extension's `page` (opened by the hook, see firefox/hook.js). */
  async openExtensionPage(page) {
    const tab = await this.browser.newPage();
    tab.on("console", (m) => this.log(`[${page} ${m.type()}] ${m.text()}`));
    // Not awaited: the hook replaces the navigation, and waiting for it to "load" sometimes
    // lasts until the driver's timeout. The extension's origin in the tab is what counts.
    tab.goto(this.pages.url(`/__open-extension-page?path=${encodeURIComponent(page)}`)).catch(() => {});
    // Polled by hand: a waitForFunction fails outright ("Waiting failed") when the navigation
    // replaces the page it runs in.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const origin = await tab.evaluate(() => location.origin).catch(() => null);
      if (origin === FIREFOX_ORIGIN) break;
      if (Date.now() > deadline) throw new Error(`${page} did not open (the tab shows ${origin})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return tab;
  }

  /** Points the extension at `base` through its options page, as a developer would. */
  async setBaseUrl(base) {
    this.base = base;
    const page = await this.openExtensionPage("options.html");
    await page.waitForSelector("#extension-id");
    await page.$eval("#base-url", (el, v) => (el.value = v), base);
    await page.click("#save");
    await page.waitForFunction((b) => document.getElementById("saved").textContent.includes(`Saved: ${b}`), {}, base);
    this.options = {
      redirectLine: await page.$eval("#redirect-line", (el) => el.textContent.trim()),
      permissionHidden: await page.$eval("#permission", (el) => el.hidden),
      tokenSetupVisible: await page.$eval("#token-setup", (el) => !el.hidden),
    };
    await page.close();
  }

  /** Opens the popup (as a tab: headless Firefox has no toolbar) once it knows its state. */
  async openPopup() {
    const page = await this.openExtensionPage("popup.html");
    await page.setViewport({ width: 352, height: 560 });
    await page.waitForSelector('#popup:not([data-state="loading"])');
    return page;
  }

  /** A new tab showing `url`. */
  async newTab(url) {
    const tab = await this.browser.newPage();
    tab.on("console", (m) => this.log(`[${url} ${m.type()}] ${m.text()}`));
    await tab.goto(url);
    return tab;
  }

  /** Nothing to grant: the preference dom.events.testing.asyncClipboard lets pages read it. */
  async grantClipboard() {}

  /**
   * Presses the extension's toolbar button on `tab`, as a user clicking it: the browser
   * window's own code for that click (the action's triggerAction) grants the activeTab
   * permission for the tab, which captureVisibleTab needs, and opens the popup. WebDriver
   * BiDi has no command for it (CDP's Extensions.triggerAction in Chromium); the driver runs
   * that code in the browser window, which --remote-allow-system-access allows.
   */
  async pressToolbarButton(tab) {
    await tab.bringToFront();
    const bidi = this.browser.connection;
    const { result: tree } = await bidi.send("browsingContext.getTree", { "moz:scope": "chrome", maxDepth: 0 });
    const windows = tree.contexts.filter((c) => c.url === "chrome://browser/content/browser.xhtml");
    assert.equal(windows.length, 1, "one browser window");
    const { result } = await bidi.send("script.evaluate", {
      target: { context: windows[0].context },
      awaitPromise: false,
      expression: `(() => {
        const { ExtensionParent } = ChromeUtils.importESModule("resource://gre/modules/ExtensionParent.sys.mjs");
        const extension = WebExtensionPolicy.getByID(${JSON.stringify(GECKO_ID)}).extension;
        ExtensionParent.apiManager.global.browserActionFor(extension).triggerAction(window);
        return gBrowser.selectedBrowser.currentURI.spec;
      })()`,
    });
    assert.equal(result.type, "success", JSON.stringify(result.exceptionDetails ?? result));
    assert.equal(result.result.value, tab.url(), "the button was pressed on this tab");
  }

  /** The cookies the browser holds for latchkey's host. */
  async cookies() {
    return (await this.browser.cookies()).filter((c) => c.domain === new URL(this.base).hostname);
  }

  /** A screenshot of the popup under the test's output folder; returns its path. */
  async shot(page, step) {
    this.shots += 1;
    const file = path.join(this.out, `firefox-${this.name}-${String(this.shots).padStart(2, "0")}-${step}.png`);
    await page.screenshot({ path: file });
    return file;
  }

  async close() {
    await this.browser.close().catch(() => {});
    rmSync(this.extDir, { recursive: true, force: true });
  }
}

/** The text of an element, trimmed. */
export async function ffText(page, selector) {
  return page.$eval(selector, (el) => (el.textContent ?? "").trim());
}

/**
 * "Sign in with Google" in the popup, "Allow" on the consent page in the window
 * identity.launchWebAuthFlow opens (on latchkey's login URL with response=redirect, which
 * sends it on to the provider): the window ends on the extension's redirect URI, and the
 * background exchanges the code. Waits until the popup shows the user.
 */
export async function signInFromFirefoxPopup(profile, popup) {
  await popupState(popup, "signed-out");
  const consentTarget = profile.browser.waitForTarget((t) => t.url().includes("/authorize"), { timeout: 15_000 });
  await popup.click('#providers button[data-provider="google"]');
  const consent = await (await consentTarget).page();
  await consent.waitForSelector("#allow");
  await consent.click("#allow");
  await popupState(popup, "signed-in");
}

/** Firefox ESR for the journeys that run in every browser (lib/capture.mjs): token mode. */
export const firefoxDriver = {
  name: "firefox",
  serverEnv: () => ({ LATCHKEY__EXTENSIONS__REDIRECT_URIS: FIREFOX_REDIRECT_URI }),
  async launch(name, { base, testName, pages, mode }) {
    assert.equal(mode, "token", "the extension uses token mode in Firefox");
    return FirefoxProfile.launch(name, { base, testName, pages });
  },
  async signIn(profile) {
    const popup = await profile.openPopup();
    await signInFromFirefoxPopup(profile, popup);
    return popup;
  },
  // The background's requests are not shown to the driver: latchkey's log and session listing
  // tell what it received.
  watchCapture: async () => null,
};

/** Waits until the popup's state is `state`. */
export async function popupState(page, state, timeout = 15_000) {
  await page.waitForSelector(`#popup[data-state="${state}"]`, { timeout });
}
