// "Deny" on the provider's consent page: latchkey's callback page says so, no session starts,
// and the popup, reopened, is still signed out and says clearly why. Signing in again works.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, Profile, text } from "../lib/browser.mjs";
import { startLatchkey, startPages } from "../lib/stack.mjs";

describe("consent denied", { timeout: 120_000 }, () => {
  let server;
  let pages;
  let profile;

  before(async () => {
    server = await startLatchkey("deny");
    pages = await startPages();
    await chooseUser("google", {
      sub: "e2e-erin",
      email: "erin@example.com",
      name: "Erin Example",
      picture: pages.url("/avatar-erin.svg"),
    });
    profile = await Profile.launch("erin", { base: server.base, testName: "deny" });
  });

  after(async () => {
    await profile?.close();
    await server?.stop();
    await pages?.stop();
  });

  it('"Deny" leaves the popup signed out with a clear message', async () => {
    const popup = await profile.openPopup();
    const [tab] = await Promise.all([
      profile.context.waitForEvent("page"),
      popup.click('#providers button[data-provider="google"]'),
    ]);
    await tab.locator("#deny").waitFor();

    const [callback] = await Promise.all([
      tab.waitForResponse((r) => r.url().startsWith(`${server.base}/auth/google/callback?`)),
      tab.click("#deny"),
    ]);
    assert.equal(callback.status(), 400);
    assert.equal(new URL(tab.url()).searchParams.get("error"), "access_denied");
    // The tab shows latchkey's page, not a stack trace or JSON.
    await tab.locator("h1", { hasText: "Not signed in" }).waitFor();
    assert.match(await tab.locator("main p:not(.ref)").innerText(), /cancelled at the provider/);
    // The page names its code and the request id, for a report.
    assert.match(await tab.locator("main p.ref").innerText(), /Error code consent_denied\b.*[0-9a-f]{8}/s);
    await tab.close();

    // No session, and the flow's binding cookie is gone too.
    const names = (await profile.cookies()).map((c) => c.name);
    assert.ok(!names.includes("__Host-latchkey_session"), `no session cookie: ${names}`);
    assert.ok(!names.includes("__Host-latchkey_login"), `no binding cookie: ${names}`);

    await popup.close();
    const reopened = await profile.openPopup();
    assert.equal(await reopened.locator("#popup").getAttribute("data-state"), "signed-out");
    assert.equal(await reopened.locator("#notice").isVisible(), true);
    assert.equal(await reopened.locator("#notice").getAttribute("data-reason"), "access_denied");
    assert.equal(
      await text(reopened, "#notice"),
      'Sign-in with Google was cancelled: "Deny" was chosen on Google\'s page. You are still signed out.',
    );
    await profile.shot(reopened, "denied");

    // Trying again and allowing works, and the message is gone.
    const [again] = await Promise.all([
      profile.context.waitForEvent("page"),
      reopened.click('#providers button[data-provider="google"]'),
    ]);
    await again.locator("#allow").waitFor();
    await Promise.all([again.waitForURL(`${server.base}/auth/google/callback?**`), again.click("#allow")]);
    await again.locator("h1", { hasText: "Signed in" }).waitFor();
    await again.close();
    await reopened.close();
    const signedIn = await profile.openPopup();
    assert.equal(await signedIn.locator("#popup").getAttribute("data-state"), "signed-in");
    assert.equal(await text(signedIn, "#user-name"), "Erin Example");
    // Signed out later, the popup no longer brings up the old refusal.
    await signedIn.click("#sign-out");
    await signedIn.locator('#popup[data-state="signed-out"]').waitFor();
    assert.equal(await signedIn.locator("#notice").isHidden(), true);
  });
});
