// The same journeys in Firefox ESR (token mode, the extension's default there), driven through
// WebDriver BiDi: the options page needs no redirect URI registered, sign-in runs in a tab that
// ends on latchkey's /auth/complete, the popup shows the user from the background's bearer calls,
// sign-out ends the session on the server.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { FirefoxProfile, ffText, popupState } from "../lib/firefox.mjs";
import { control, startLatchkey, startPages } from "../lib/stack.mjs";

describe("Firefox ESR: token mode", { timeout: 180_000 }, () => {
  let server;
  let pages;
  let profile;

  before(async () => {
    // {public_url}/auth/complete is always allowed: nothing to register.
    server = await startLatchkey("firefox");
    pages = await startPages();
    await control("/google/user", {
      sub: "e2e-fern",
      email: "fern@example.com",
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

  it("the options page defaults to token mode and needs no redirect URI registered", () => {
    assert.equal(profile.options.tokenSetupVisible, true, "Firefox defaults to token mode");
    assert.equal(
      profile.options.redirectLine,
      `(none: without identity.launchWebAuthFlow the sign-in ends on ${server.base}/auth/complete)`,
    );
    assert.equal(profile.options.permissionHidden, true, "the host permission covers the server");
  });

  it("signs in through a tab ending on /auth/complete, shows the user, signs out", async () => {
    const popup = await profile.openPopup();
    await popupState(popup, "signed-out");

    // A tab opens on the provider's consent page; after "Allow" it ends on latchkey's
    // /auth/complete, where the background reads the code, closes it and exchanges the code.
    const consentTarget = profile.browser.waitForTarget((t) => t.url().includes("/authorize"), { timeout: 15_000 });
    await popup.click('#providers button[data-provider="google"]');
    const consent = await (await consentTarget).page();
    await consent.waitForSelector("#allow");
    await consent.click("#allow");

    await popupState(popup, "signed-in");
    assert.equal(await ffText(popup, "#user-name"), "Fern Example");
    assert.equal(await ffText(popup, "#user-email"), "fern@example.com");
    assert.equal(await ffText(popup, "#plan"), "free");
    await profile.shot(popup, "signed-in");

    const listed = server.cli("sessions", "list", "--user", "fern@example.com", "--json");
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /"transport":\s*"bearer"/);

    await popup.click("#sign-out");
    await popupState(popup, "signed-out");
    assert.equal(await ffText(popup, "#status"), "Signed out.");
    const remaining = server.cli("sessions", "list", "--user", "fern@example.com", "--json");
    assert.equal(remaining.status, 0, remaining.stderr);
    assert.doesNotMatch(remaining.stdout, /"transport":\s*"bearer"/);
    await popup.close();
  });
});
