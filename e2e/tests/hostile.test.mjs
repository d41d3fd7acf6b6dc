// A hostile page on another origin (another loopback port) visited by a signed-in browser:
// the browser sends the session cookie with its requests (SameSite=None), yet CORS keeps
// /api/user/info from the page, and its forged POSTs to /auth/logout and to the vision proxy
// are refused with 403 origin_not_allowed; afterwards the session, the usage and the vision
// API are as they were.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, cookieValue, Profile, recordWire, signInFromPopup, text } from "../lib/browser.mjs";
import { startLatchkey, startPages, visionCalls } from "../lib/stack.mjs";

const SESSION = "__Host-latchkey_session";

describe("a hostile page on another origin", { timeout: 120_000 }, () => {
  let server;
  let pages;
  let profile;
  let hostile;
  let sessionCookie;
  let wire;

  before(async () => {
    server = await startLatchkey("hostile");
    pages = await startPages();
    await chooseUser("google", {
      sub: "e2e-gus",
      email: "gus@example.com",
      name: "Gus Example",
      picture: pages.url("/avatar-gus.svg"),
    });
    profile = await Profile.launch("gus", { base: server.base, testName: "hostile" });
    (await signInFromPopup(profile, "google")).close();
    sessionCookie = (await profile.cookies()).find((c) => c.name === SESSION).value;
    hostile = await profile.context.newPage();
    await hostile.goto(pages.url(`/hostile.html?target=${encodeURIComponent(server.base)}`));
    assert.notEqual(new URL(hostile.url()).origin, new URL(server.base).origin);
    wire = await recordWire(hostile, { bodiesFor: [`${server.base}/auth/logout`] });
  });

  after(async () => {
    await profile?.close();
    await server?.stop();
    await pages?.stop();
  });

  /** Runs `action` in the page; returns its result and the request to `path` as it went out. */
  async function whileSending(path, method, action) {
    const mark = wire.mark();
    const result = await action();
    const sent = await wire.find(`${server.base}${path}`, method, mark);
    return { result, sent };
  }

  it("cannot read /api/user/info (CORS), although the browser sent the cookie", async () => {
    const seen = await whileSending("/api/user/info", "GET", () =>
      hostile.evaluate(() => window.readUserInfo()),
    );
    assert.equal(seen.result.read, false, "the page's fetch failed");
    assert.match(seen.result.error, /TypeError/);
    // What the browser sent: this page's origin and the session cookie (SameSite=None).
    assert.equal(seen.sent.headers.origin, pages.origin);
    assert.equal(cookieValue(seen.sent.headers.cookie, SESSION), sessionCookie, "the cookie went along");
    // latchkey answered, without any CORS header for this origin, so the browser withheld it.
    assert.equal(seen.sent.status, 200);
    const names = Object.keys(seen.sent.responseHeaders);
    assert.ok(!names.some((n) => n.startsWith("access-control-")), `no CORS header: ${names}`);
    assert.equal(seen.sent.cors, "MissingAllowOriginHeader");
  });

  it("a forged POST /auth/logout is refused with 403 origin_not_allowed", async () => {
    const simple = await whileSending("/auth/logout", "POST", () =>
      hostile.evaluate(() => window.forgeLogout()),
    );
    assert.equal(simple.result.read, false, "the page cannot even read the refusal");
    assert.equal(simple.sent.headers.origin, pages.origin);
    assert.equal(cookieValue(simple.sent.headers.cookie, SESSION), sessionCookie);
    assert.equal(simple.sent.status, 403);
    // The answer the browser received (and kept from the page): latchkey's refusal.
    assert.equal(wire.json(`${server.base}/auth/logout`, "POST").code, "origin_not_allowed");

    // With a header, the browser asks first: the preflight is refused and no POST leaves.
    const mark = wire.mark();
    const preflight = await whileSending("/auth/logout", "OPTIONS", () =>
      hostile.evaluate(() => window.forgeLogoutWithHeader()),
    );
    assert.equal(preflight.result.read, false);
    assert.equal(preflight.sent.headers.origin, pages.origin);
    assert.equal(preflight.sent.status, 403);
    const post = await wire.ended(`${server.base}/auth/logout`, "POST", mark);
    assert.equal(post.cors, "PreflightMissingAllowOriginHeader", "the browser stopped the POST");
    assert.equal(post.headers, undefined, "and never sent it");
  });

  it("a form POST to the vision proxy is refused with 403 origin_not_allowed", async () => {
    const callsBefore = await visionCalls();
    assert.equal(await hostile.evaluate(() => window.attachImage()), 1);
    const [response] = await Promise.all([
      hostile.waitForResponse((r) => r.url() === `${server.base}/api/openai/extract-subtitles`),
      hostile.click("#submit-vision"),
    ]);
    const request = response.request();
    const headers = await request.allHeaders();
    assert.equal(request.method(), "POST");
    assert.equal(headers.origin, pages.origin);
    assert.equal(cookieValue(headers.cookie, SESSION), sessionCookie);
    assert.match(headers["content-type"], /^multipart\/form-data/);
    assert.equal(response.status(), 403);
    // The tab now shows latchkey's refusal, as JSON.
    await hostile.waitForURL(`${server.base}/api/openai/extract-subtitles`);
    const shown = JSON.parse(await hostile.locator("body").innerText());
    assert.equal(shown.success, false);
    assert.equal(shown.code, "origin_not_allowed");
    assert.equal(await visionCalls(), callsBefore, "the vision API was not called");
  });

  it("and nothing changed: same session, no usage", async () => {
    const cookie = (await profile.cookies()).find((c) => c.name === SESSION);
    assert.equal(cookie?.value, sessionCookie);
    const popup = await profile.openPopup();
    assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-in");
    assert.equal(await text(popup, "#user-name"), "Gus Example");
    assert.equal(await text(popup, "#usage-text"), "0 of 3 captures");
    await profile.shot(popup, "still-signed-in");
  });
});
