// The same journeys in Firefox ESR (token mode, the extension's default there), driven through
// WebDriver BiDi: the options page names the allizom.org redirect URI to register, sign-in runs
// in identity.launchWebAuthFlow's window opened on latchkey's login URL (response=redirect),
// the popup shows the user from the background's bearer calls, sign-out ends the session on the server, a page on another origin cannot use the
// session, and a revocation from the CLI shows in the popup.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { FIREFOX_REDIRECT_URI, FirefoxProfile, ffText, popupState, signInFromFirefoxPopup } from "../lib/firefox.mjs";
import { control, loggedStatuses, startLatchkey, startPages } from "../lib/stack.mjs";

const EMAIL = "fern@example.com";

describe("Firefox ESR: token mode", { timeout: 180_000 }, () => {
  let server;
  let pages;
  let profile;

  before(async () => {
    server = await startLatchkey("firefox", {
      LATCHKEY__EXTENSIONS__REDIRECT_URIS: FIREFOX_REDIRECT_URI,
      LATCHKEY__LOG__FORMAT: "json",
    });
    pages = await startPages();
    await control("/google/user", {
      sub: "e2e-fern",
      email: EMAIL,
      name: "Fern Example",
      picture: pages.url("/avatar-alice.svg"),
    });
    profile = await FirefoxProfile.launch("fern", { base: server.base, testName: "firefox", pages });
  });

  after(async () => {
    await profile?.close();
    await server?.stop();
    await pages?.stop();
  });

  const signIn = (popup) => signInFromFirefoxPopup(profile, popup);

  function bearerSessions() {
    const listed = server.cli("sessions", "list", "--user", EMAIL, "--json");
    assert.equal(listed.status, 0, listed.stderr);
    return (listed.stdout.match(/"transport":\s*"bearer"/g) ?? []).length;
  }

  it("the options page defaults to token mode and names the redirect URI to register", () => {
    assert.equal(profile.options.tokenSetupVisible, true, "Firefox defaults to token mode");
    assert.equal(profile.options.redirectLine, `LATCHKEY__EXTENSIONS__REDIRECT_URIS=${FIREFOX_REDIRECT_URI}`);
    assert.equal(profile.options.permissionHidden, true, "the host permission covers the server");
  });

  it("signs in through launchWebAuthFlow on latchkey's redirecting login URL, shows the user, signs out", async () => {
    const popup = await profile.openPopup();
    await signIn(popup);
    // The window was opened on latchkey's login URL, which answered 302 to the provider (twice:
    // Firefox first loads the URL unseen, in case it ends on the redirect URI without the
    // user; each load starts a flow, the unused one expires); the flow ended at the
    // extension's redirect URI, not on latchkey's /auth/complete.
    assert.deepEqual(loggedStatuses(server, "/auth/google/login"), [302, 302]);
    assert.deepEqual(loggedStatuses(server, "/auth/complete"), []);
    assert.equal(await ffText(popup, "#user-name"), "Fern Example");
    assert.equal(await ffText(popup, "#user-email"), EMAIL);
    assert.equal(await ffText(popup, "#plan"), "free");
    assert.equal(await ffText(popup, "#usage-text"), "0 of 3 captures");
    await profile.shot(popup, "signed-in");
    assert.equal(bearerSessions(), 1, "a bearer session on the server");

    await popup.click("#sign-out");
    await popupState(popup, "signed-out");
    assert.equal(await ffText(popup, "#status"), "Signed out.");
    assert.equal(bearerSessions(), 0, "the session ended on the server");
    await popup.close();
  });

  it("a page on another origin cannot use the session the background holds", async () => {
    const popup = await profile.openPopup();
    await signIn(popup);
    await popup.close();
    const hostile = await profile.browser.newPage();
    await hostile.goto(pages.url(`/hostile.html?target=${encodeURIComponent(server.base)}`));
    // No cookie to ride on and no way to the token: the page reads nothing, and its forged
    // sign-out leaves the session as it was.
    const info = await hostile.evaluate(() => window.readUserInfo());
    assert.equal(info.read, false, JSON.stringify(info));
    const logout = await hostile.evaluate(() => window.forgeLogout());
    assert.equal(logout.read, false, JSON.stringify(logout));
    await hostile.close();
    assert.equal(bearerSessions(), 1, "the session is still there");
    const still = await profile.openPopup();
    await popupState(still, "signed-in");
    assert.equal(await ffText(still, "#user-name"), "Fern Example");
    await still.close();
  });

  it("a revocation from the CLI is seen by the popup at its next opening", async () => {
    const run = server.cli("sessions", "revoke", "--user", EMAIL, "--yes");
    assert.equal(run.status, 0, run.stderr);
    assert.equal(bearerSessions(), 0);
    const popup = await profile.openPopup();
    await popupState(popup, "signed-out");
    await profile.shot(popup, "revoked-from-cli");
    await popup.close();
  });
});
