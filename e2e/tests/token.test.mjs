// Token mode in Chromium: the options page switches the extension to token mode; the popup's
// sign-in runs in the background through identity.launchWebAuthFlow (PKCE, redirect URI
// https://<id>.chromiumapp.org/), the code is exchanged at POST /auth/token, and every call
// after that carries `Authorization: Bearer` from the background and no cookie. Sign-out ends
// the session on the server and forgets the token.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, Profile, text } from "../lib/browser.mjs";
import { EXTENSION_ID, EXTENSION_ORIGIN, startLatchkey, startPages } from "../lib/stack.mjs";

const REDIRECT_URI = `https://${EXTENSION_ID}.chromiumapp.org/`;
const SESSION = "__Host-latchkey_session";

describe("token mode", { timeout: 180_000 }, () => {
  let server;
  let pages;
  let profile;

  before(async () => {
    server = await startLatchkey("token", { LATCHKEY__EXTENSIONS__REDIRECT_URIS: REDIRECT_URI });
    pages = await startPages();
    await chooseUser("google", {
      sub: "e2e-gus",
      email: "gus@example.com",
      name: "Gus Example",
      picture: pages.url("/avatar-gus.svg"),
    });
    profile = await Profile.launch("gus", { base: server.base, testName: "token" });
  });

  after(async () => {
    await profile?.close();
    await server?.stop();
    await pages?.stop();
  });

  /** Every request the background (the service worker) sends to latchkey. */
  function backgroundRequests() {
    const sent = [];
    profile.context.on("request", (r) => {
      if (r.serviceWorker() && r.url().startsWith(server.base)) sent.push(r);
    });
    return sent;
  }

  it("the options page switches to token mode and names the redirect URI to register", async () => {
    const page = await profile.context.newPage();
    await page.goto(`${EXTENSION_ORIGIN}/options.html`);
    await page.locator("#extension-id").filter({ hasText: EXTENSION_ID }).waitFor();
    assert.equal(await page.locator("#cookie-setup").isVisible(), true, "Chromium defaults to cookie mode");
    await page.selectOption("#mode", "token");
    await page.locator("#mode-saved").filter({ hasText: "Saved: token mode" }).waitFor();
    assert.equal(await text(page, "#redirect-line"), `LATCHKEY__EXTENSIONS__REDIRECT_URIS=${REDIRECT_URI}`);
    assert.equal(await page.locator("#cookie-setup").isHidden(), true);
    await page.close();
  });

  it("signs in through launchWebAuthFlow, shows the user with the bearer token, signs out", async () => {
    const sent = backgroundRequests();
    const popup = await profile.openPopup();
    assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-out");

    // The sign-in window of launchWebAuthFlow opens the provider's consent page.
    const [consent] = await Promise.all([
      profile.context.waitForEvent("page", { timeout: 15_000 }),
      popup.click('#providers button[data-provider="google"]'),
    ]);
    await consent.locator("#allow").waitFor();
    await consent.click("#allow");

    // The background exchanged the code; the popup, still open, notices and shows the user.
    await popup.locator('#popup[data-state="signed-in"]').waitFor({ timeout: 15_000 });
    assert.equal(await text(popup, "#user-name"), "Gus Example");
    assert.equal(await text(popup, "#plan"), "free");
    await profile.shot(popup, "signed-in-token-mode");

    // What the background sent: the login with the S256 challenge and our redirect URI, the
    // exchange, then the user info with the bearer token and no cookie.
    const login = sent.find((r) => r.url().startsWith(`${server.base}/auth/google/login?`));
    assert.ok(login, "the background asked for the login URL");
    const query = new URL(login.url()).searchParams;
    assert.equal(query.get("mode"), "token");
    assert.equal(query.get("redirect_uri"), REDIRECT_URI);
    assert.equal(query.get("code_challenge_method"), "S256");
    assert.match(query.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    const exchange = sent.find((r) => r.url() === `${server.base}/auth/token`);
    assert.ok(exchange, "the background exchanged the code");
    assert.equal(exchange.method(), "POST");
    assert.equal((await exchange.response()).status(), 200);
    const info = sent.filter((r) => r.url() === `${server.base}/api/user/info`).at(-1);
    assert.ok(info, "the user info came through the background");
    const headers = await info.allHeaders();
    assert.match(headers.authorization ?? "", /^Bearer [0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(headers.cookie, undefined, "no cookie beside the bearer token");
    assert.equal((await profile.cookies()).find((c) => c.name === SESSION), undefined);
    // The popup itself never called latchkey: everything went through the background.
    assert.equal(popup.sent.filter((r) => r.url().startsWith(server.base)).length, 0);

    // The session is a bearer session on the server.
    const listed = server.cli("sessions", "list", "--user", "gus@example.com", "--json");
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /"transport":\s*"bearer"/);

    // Sign-out: POST /auth/logout with the bearer token, the session ends, the popup is signed out.
    await popup.click("#sign-out");
    await popup.locator('#popup[data-state="signed-out"]').waitFor();
    assert.equal(await text(popup, "#status"), "Signed out.");
    const logout = sent.filter((r) => r.url() === `${server.base}/auth/logout`).at(-1);
    assert.ok(logout, "the background sent the sign-out");
    assert.equal((await logout.allHeaders()).authorization, headers.authorization);
    assert.equal((await logout.response()).status(), 200);
    const remaining = server.cli("sessions", "list", "--user", "gus@example.com", "--json");
    assert.equal(remaining.status, 0, remaining.stderr);
    assert.doesNotMatch(remaining.stdout, /"transport":\s*"bearer"/);
    await popup.close();
  });
});
