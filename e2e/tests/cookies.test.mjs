// What only a browser can tell about latchkey's cookies: Chromium accepts the `__Host-`
// session and CSRF cookies (Secure, Path=/, no Domain) on http://localhost, a secure context,
// keeps them as `SameSite=None; Secure; HttpOnly`, and sends the session cookie with the
// extension's requests, from the popup and from the service worker. With
// `session.partitioned = true` (CHIPS) it keeps and sends them too, but per top-level site,
// which an extension's sign-in through a tab cannot cross (see docs/extension.md).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, cookieValue, Profile, sentBy, signInFromPopup, text } from "../lib/browser.mjs";
import { EXTENSION_ORIGIN, startLatchkey, startPages } from "../lib/stack.mjs";

const SESSION = "__Host-latchkey_session";
const CSRF = "__Host-latchkey_csrf";

/** The attributes of a Set-Cookie header, lower-cased names. */
function attributes(header) {
  const [pair, ...rest] = header.split(";").map((s) => s.trim());
  const attrs = {};
  for (const a of rest) {
    const [k, v = true] = a.split("=");
    attrs[k.toLowerCase()] = v;
  }
  return { name: pair.slice(0, pair.indexOf("=")), attrs };
}

/** A request from the extension's service worker, as the browser sent it. */
async function fromWorker(profile, url) {
  const [request, status] = await Promise.all([
    profile.context.waitForEvent("request", { predicate: (r) => r.url() === url }),
    profile.worker.evaluate(async (u) => (await fetch(u, { credentials: "include" })).status, url),
  ]);
  assert.ok(request.serviceWorker(), "sent by the worker");
  return { headers: await request.allHeaders(), status };
}

async function checkSignedInProfile(profile, server, setCookies) {
  // The cookies as the browser keeps them.
  const jar = await profile.cookies();
  for (const name of [SESSION, CSRF]) {
    const c = jar.find((x) => x.name === name);
    assert.ok(c, `the browser accepted ${name}: ${JSON.stringify(jar)}`);
    assert.equal(c.domain, "localhost", `${name} is host-only (no Domain)`);
    assert.equal(c.path, "/");
    assert.equal(c.secure, true);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, "None");
    assert.equal(c.partitionKey, undefined, `${name} is not partitioned`);
  }

  // The headers as latchkey sent them during the sign-in.
  const popup = await profile.openPopup();
  const seen = new Set();
  for (const header of setCookies) {
    const { name, attrs } = attributes(header);
    seen.add(name);
    assert.ok(name.startsWith("__Host-"), name);
    assert.equal(attrs.domain, undefined, `${name} has no Domain`);
    assert.equal(attrs.path, "/");
    assert.equal(attrs.secure, true);
    assert.equal(attrs.httponly, true);
    assert.equal(attrs.samesite, "None");
    assert.equal(attrs.partitioned, undefined, `${name}: ${header}`);
  }
  assert.ok(seen.has(SESSION) && seen.has(CSRF), `both cookies were set: ${[...seen]}`);

  // The popup's request carried the session cookie, and the popup shows the user.
  const info = await sentBy(popup, server.base, "/api/user/info");
  const session = jar.find((x) => x.name === SESSION).value;
  assert.equal(cookieValue(info.headers.cookie, SESSION), session);
  assert.equal(info.response.status(), 200);
  assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-in");

  // So did a request from the service worker (the one that calls the vision proxy).
  const worker = await fromWorker(profile, `${server.base}/api/sessions`);
  assert.equal(cookieValue(worker.headers.cookie, SESSION), session);
  assert.equal(worker.status, 200);
  return popup;
}

describe("cookies in Chromium", { timeout: 180_000 }, () => {
  let pages;
  const cleanup = [];

  before(async () => {
    pages = await startPages();
  });

  after(async () => {
    for (const f of cleanup.reverse()) await f();
    await pages?.stop();
  });

  it("the browser enforces the __Host- rules on http://localhost (control)", async () => {
    const profile = await Profile.launch("probe", { base: "http://localhost:8080", testName: "cookies" });
    cleanup.push(() => profile.close());
    const page = await profile.context.newPage();
    await page.goto(pages.url("/cookie-probe"));
    const names = (await profile.context.cookies(pages.origin)).map((c) => c.name);
    assert.deepEqual(names, ["__Host-probe_ok"], "only the well-formed __Host- cookie is kept");
  });

  it("SameSite=None; Secure __Host- cookies are kept and sent by the extension", async () => {
    const server = await startLatchkey("cookies");
    cleanup.push(() => server.stop());
    await chooseUser("google", {
      sub: "e2e-hana",
      email: "hana@example.com",
      name: "Hana Example",
      picture: pages.url("/avatar-alice.svg"),
    });
    const profile = await Profile.launch("hana", { base: server.base, testName: "cookies" });
    cleanup.push(() => profile.close());
    const first = await signInFromPopup(profile, "google");
    await first.close();
    const popup = await checkSignedInProfile(profile, server, first.setCookies);
    assert.equal(await text(popup, "#user-name"), "Hana Example");
    await profile.shot(popup, "signed-in");
  });

  // CHIPS keys a partitioned cookie by the top-level site it was set under. The extension's
  // popup and worker are their own top-level site (chrome-extension://<id>); the sign-in tab
  // that lands on the callback is latchkey's. So the flow's binding cookie, set by the popup's
  // request, is not sent by the tab, and a session cookie set by the callback would not be
  // sent by the extension: with session.partitioned = true an extension cannot sign in.
  it("with session.partitioned = true the cookies are kept per top-level site, and sign-in through a tab fails", async () => {
    const server = await startLatchkey("cookies-partitioned", { LATCHKEY__SESSION__PARTITIONED: "true" });
    cleanup.push(() => server.stop());
    await chooseUser("google", {
      sub: "e2e-ines",
      email: "ines@example.com",
      name: "Ines Example",
      picture: pages.url("/avatar-erin.svg"),
    });
    const profile = await Profile.launch("ines", { base: server.base, testName: "cookies" });
    cleanup.push(() => profile.close());

    const popup = await profile.openPopup();
    const [tab] = await Promise.all([
      profile.context.waitForEvent("page"),
      popup.click('#providers button[data-provider="google"]'),
    ]);
    // The cookies the extension's requests got are kept under the extension's own site...
    const jar = await profile.cookies();
    for (const name of [CSRF, "__Host-latchkey_login"]) {
      const c = jar.find((x) => x.name === name);
      assert.ok(c, `${name} kept: ${JSON.stringify(jar)}`);
      assert.equal(c.partitionKey, EXTENSION_ORIGIN, `${name}'s partition`);
      assert.equal(c.sameSite, "None");
      assert.equal(c.secure, true);
    }
    // ...and the extension's own requests send them back: the popup's login request, and one
    // from the worker.
    const login = await sentBy(popup, server.base, "/auth/google/login");
    const csrf = jar.find((x) => x.name === CSRF).value;
    assert.equal(cookieValue(login.headers.cookie, CSRF), csrf);
    const worker = await fromWorker(profile, `${server.base}/api/user/info`);
    assert.equal(cookieValue(worker.headers.cookie, CSRF), csrf);
    assert.equal(worker.status, 401);

    // The sign-in tab is another top-level site: the binding cookie stays behind, the callback
    // refuses the flow, and no session starts.
    await tab.locator("#allow").waitFor();
    const [callback] = await Promise.all([
      tab.waitForResponse((r) => r.url().startsWith(`${server.base}/auth/google/callback?`)),
      tab.click("#allow"),
    ]);
    const sent = await callback.request().allHeaders();
    assert.equal(cookieValue(sent.cookie, "__Host-latchkey_login"), undefined, "the tab did not send it");
    assert.equal(callback.status(), 400);
    await tab.locator("h1", { hasText: "Not signed in" }).waitFor();
    assert.match(await tab.locator("main p:not(.ref)").innerText(), /started in another browser/);
    // The page names its code and the request id, for a report.
    assert.match(await tab.locator("main p.ref").innerText(), /Error code binding_mismatch\b.*[0-9a-f]{8}/s);
    assert.equal((await profile.cookies()).find((c) => c.name === SESSION), undefined);
    await tab.close();
    await popup.close();

    const reopened = await profile.openPopup();
    assert.equal(await reopened.locator("#popup").getAttribute("data-state"), "signed-out");
    assert.equal(
      await text(reopened, "#notice"),
      "Sign-in with Google did not complete. Please try again.",
    );
    await profile.shot(reopened, "partitioned-sign-in-fails");
  });
});
