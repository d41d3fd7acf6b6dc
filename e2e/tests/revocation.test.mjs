// Revocation seen by a second browser: one user signed in from two Chromium profiles. "Sign
// out everywhere else" in one ends the other's session, whose popup shows signed out on its
// next opening; `latchkey sessions revoke --user` does the same to both.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { chooseUser, cookieValue, Profile, sentBy, signInFromPopup, text } from "../lib/browser.mjs";
import { EXTENSION_ORIGIN, startLatchkey, startPages } from "../lib/stack.mjs";

const SESSION = "__Host-latchkey_session";
const CSRF = "__Host-latchkey_csrf";
const EMAIL = "frank@example.com";

describe("revocation across browsers", { timeout: 180_000 }, () => {
  let server;
  let pages;
  let laptop;
  let desktop;

  before(async () => {
    server = await startLatchkey("revocation");
    pages = await startPages();
    await chooseUser("google", {
      sub: "e2e-frank",
      email: EMAIL,
      name: "Frank Example",
      picture: pages.url("/avatar-frank.svg"),
    });
    [laptop, desktop] = await Promise.all([
      Profile.launch("laptop", { base: server.base, testName: "revocation" }),
      Profile.launch("desktop", { base: server.base, testName: "revocation" }),
    ]);
  });

  after(async () => {
    await laptop?.close();
    await desktop?.close();
    await server?.stop();
    await pages?.stop();
  });

  it('"Sign out everywhere else" in one profile signs the other out', async () => {
    (await signInFromPopup(desktop, "google")).close();
    const popup = await signInFromPopup(laptop, "google");
    assert.equal(await text(popup, "#sessions"), "Signed in here and on 1 other browser.");
    await laptop.shot(popup, "two-browsers");

    await popup.click("#sign-out-others");
    await popup.locator("#status", { hasText: "Signed out 1 other session." }).waitFor();
    const del = popup.sent.filter((r) => r.url() === `${server.base}/api/sessions` && r.method() === "DELETE").at(-1);
    assert.ok(del, "a DELETE /api/sessions was sent");
    const headers = await del.allHeaders();
    assert.equal(headers["x-csrf-token"], cookieValue(headers.cookie, CSRF));
    assert.equal(headers.origin, EXTENSION_ORIGIN);
    assert.deepEqual(await (await del.response()).json(), { success: true, revoked: 1 });
    assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-in");
    assert.equal(await text(popup, "#sessions"), "Signed in on this browser only.");
    await popup.close();

    // The desktop still holds its cookie; sending it now gets 401, and the popup says signed out.
    const held = (await desktop.cookies()).find((c) => c.name === SESSION);
    assert.ok(held, "the desktop browser still has its (revoked) cookie");
    const other = await desktop.openPopup();
    const info = await sentBy(other, server.base, "/api/user/info");
    assert.equal(cookieValue(info.headers.cookie, SESSION), held.value);
    assert.equal(info.response.status(), 401);
    assert.equal(await other.locator("#popup").getAttribute("data-state"), "signed-out");
    await desktop.shot(other, "revoked-elsewhere");
    await other.close();

    // The laptop is still signed in.
    const still = await laptop.openPopup();
    assert.equal(await still.locator("#popup").getAttribute("data-state"), "signed-in");
    await still.close();
  });

  it("latchkey sessions revoke --user signs both profiles out", async () => {
    (await signInFromPopup(desktop, "google")).close();
    const before = await laptop.openPopup();
    assert.equal(await text(before, "#sessions"), "Signed in here and on 1 other browser.");
    await before.close();

    const run = server.cli("sessions", "revoke", "--user", EMAIL, "--yes");
    assert.equal(run.status, 0, `latchkey sessions revoke: ${run.stderr}`);
    assert.match(run.stdout, /revoked 2 session/, "prints how many");

    for (const profile of [laptop, desktop]) {
      const popup = await profile.openPopup();
      assert.equal(await popup.locator("#popup").getAttribute("data-state"), "signed-out", profile.name);
      const info = await sentBy(popup, server.base, "/api/user/info");
      assert.ok(cookieValue(info.headers.cookie, SESSION), "the old cookie was sent");
      assert.equal(info.response.status(), 401);
      await profile.shot(popup, "revoked-by-cli");
      await popup.close();
    }
  });
});
