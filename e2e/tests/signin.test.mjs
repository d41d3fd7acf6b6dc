// Sign-in from the popup with Google and with GitHub: the popup asks for `authUrl` with its CSRF
// header, opens it in a new tab, the fake provider's consent page is shown, "Allow" sends the
// tab to latchkey's callback, which sets the session cookie; the popup, reopened, shows the
// user, the plan and today's usage.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, cookieValue, Profile, sentBy, text } from "../lib/browser.mjs";
import { EXTENSION_ORIGIN, fakes, startLatchkey, startPages } from "../lib/stack.mjs";

const SESSION = "__Host-latchkey_session";
const CSRF = "__Host-latchkey_csrf";

describe("sign-in from the popup", { timeout: 180_000 }, () => {
  let server;
  let pages;
  const profiles = [];

  before(async () => {
    server = await startLatchkey("signin");
    pages = await startPages();
  });

  after(async () => {
    for (const p of profiles) await p.close();
    await server?.stop();
    await pages?.stop();
  });

  async function signInThrough(provider, profile, consentEndpoint, who) {
    const popup = await profile.openPopup();
    assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-out");
    assert.deepEqual(
      await popup.locator("#providers button").allTextContents(),
      ["Sign in with Google", "Sign in with GitHub"],
    );
    assert.equal((await profile.cookies()).find((c) => c.name === SESSION), undefined);
    await profile.shot(popup, "signed-out");

    const [tab] = await Promise.all([
      profile.context.waitForEvent("page"),
      popup.click(`#providers button[data-provider="${provider}"]`),
    ]);

    // What the popup sent: the CSRF cookie and the same token in X-CSRF-Token.
    const login = await sentBy(popup, server.base, `/auth/${provider}/login`);
    const csrfCookie = cookieValue(login.headers.cookie, CSRF);
    assert.ok(csrfCookie, "the CSRF cookie went with the login request");
    assert.equal(login.headers["x-csrf-token"], csrfCookie);
    assert.equal(login.response.status(), 200);
    const { authUrl } = await login.response.json();

    // The new tab shows the provider's consent page for this flow.
    await tab.locator("#allow").waitFor();
    assert.equal(tab.url(), authUrl);
    const consent = new URL(tab.url());
    assert.equal(`${consent.origin}${consent.pathname}`, consentEndpoint);
    assert.equal(consent.searchParams.get("redirect_uri"), `${server.base}/auth/${provider}/callback`);
    assert.equal(consent.searchParams.get("code_challenge_method"), "S256");
    assert.ok(consent.searchParams.get("state").length >= 22, "a state of at least 128 bits");
    if (provider === "google") assert.ok(consent.searchParams.get("nonce"), "an OIDC nonce");
    assert.match(await tab.locator("body").innerText(), new RegExp(who));

    // "Allow": the tab lands on the callback, which sets the session cookie.
    const [callback] = await Promise.all([
      tab.waitForResponse((r) => r.url().startsWith(`${server.base}/auth/${provider}/callback?`)),
      tab.click("#allow"),
    ]);
    assert.equal(callback.status(), 200);
    const setCookies = (await callback.headersArray()).filter((h) => h.name.toLowerCase() === "set-cookie");
    const sessionHeader = setCookies.map((h) => h.value).find((v) => v.startsWith(`${SESSION}=`));
    assert.ok(sessionHeader, "the callback set the session cookie");
    await tab.locator("h1", { hasText: "Signed in" }).waitFor();

    const cookie = (await profile.cookies()).find((c) => c.name === SESSION);
    assert.ok(cookie, "the browser kept the session cookie");
    assert.equal(cookie.value, sessionHeader.slice(SESSION.length + 1).split(";")[0]);
    // A popup left open notices the sign-in by itself (the worker saw the tab reach the callback).
    await popup.locator('#popup[data-state="signed-in"]').waitFor({ timeout: 10_000 });
    await tab.close();
    await popup.close();

    // Reopened, the popup shows who is signed in, and sent the cookie to get it.
    const reopened = await profile.openPopup();
    assert.equal(await reopened.locator("#popup").getAttribute("data-state"), "signed-in");
    const info = await sentBy(reopened, server.base, "/api/user/info");
    assert.equal(cookieValue(info.headers.cookie, SESSION), cookie.value);
    return reopened;
  }

  it("with Google: consent page, Allow, cookie set, the popup shows the user and plan", async () => {
    await chooseUser("google", {
      sub: "e2e-alice",
      email: "alice@example.com",
      name: "Alice Example",
      picture: pages.url("/avatar-alice.svg"),
    });
    const profile = await Profile.launch("alice", { base: server.base, testName: "signin" });
    profiles.push(profile);

    const popup = await signInThrough("google", profile, `${fakes.google}/authorize`, "alice@example.com");
    assert.equal(await text(popup, "#user-name"), "Alice Example");
    assert.equal(await text(popup, "#user-email"), "alice@example.com");
    assert.equal(await text(popup, "#plan"), "free");
    assert.equal(await text(popup, "#usage-text"), "0 of 3 captures");
    assert.equal(await popup.locator("#quota").isHidden(), true);
    assert.equal(await text(popup, "#sessions"), "Signed in on this browser only.");
    assert.equal(await popup.locator("#sign-out-others").isDisabled(), true);
    // The picture from the provider is shown.
    await popup.waitForFunction(() => document.getElementById("avatar").naturalWidth > 0);
    await profile.shot(popup, "signed-in");
  });

  it("with GitHub: the same, through GitHub's consent page", async () => {
    await chooseUser("github", {
      id: 9_100_001,
      login: "octo-e2e",
      name: "Octo Cat",
      email: "octo@example.com",
      avatar_url: pages.url("/avatar-octocat.svg"),
    });
    const profile = await Profile.launch("octocat", { base: server.base, testName: "signin" });
    profiles.push(profile);

    const popup = await signInThrough(
      "github",
      profile,
      `${fakes.github}/login/oauth/authorize`,
      "octo-e2e",
    );
    assert.equal(await text(popup, "#user-name"), "Octo Cat");
    assert.equal(await text(popup, "#user-email"), "octo@example.com");
    assert.equal(await text(popup, "#plan"), "free");
    assert.equal(await text(popup, "#usage-text"), "0 of 3 captures");
    await popup.waitForFunction(() => document.getElementById("avatar").naturalWidth > 0);
    await profile.shot(popup, "signed-in");

    // Signing out from the popup: POST /auth/logout with the CSRF header, cookie cleared.
    await popup.click("#sign-out");
    await popup.locator('#popup[data-state="signed-out"]').waitFor();
    assert.equal(await text(popup, "#status"), "Signed out.");
    const logout = await sentBy(popup, server.base, "/auth/logout");
    assert.equal(logout.request.method(), "POST");
    assert.equal(logout.headers.origin, EXTENSION_ORIGIN);
    assert.equal(logout.headers["x-csrf-token"], cookieValue(logout.headers.cookie, CSRF));
    assert.equal(logout.response.status(), 200);
    assert.equal((await profile.cookies()).find((c) => c.name === SESSION), undefined);
    await profile.shot(popup, "signed-out-again");
  });
});
