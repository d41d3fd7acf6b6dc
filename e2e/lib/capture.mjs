// The capture and quota journeys, once for every browser and mode: tests/capture.test.mjs runs
// them in Chromium (cookie mode and token mode), tests/firefox-capture.test.mjs in Firefox ESR
// (token mode). The user signs in, clicks the latchkey button on a page with a playing
// <video> (the browser grants activeTab, which capturing needs), and presses Alt+Shift+S: the
// content script asks the background to capture the visible tab and post it to the vision
// proxy (the fake vision API answers), and the JSON `{subtitles, url, time}` lands on the
// clipboard. The popup counts the usage, shows the daily limit reached (the e2e server's free
// limit is 3) after a 4th capture is refused with 429 quota_exceeded, and a plan changed with
// the CLI lifts it on the next request.
//
// Only what both drivers (playwright-core, puppeteer-core) share is used here: the profile's
// own methods (see `driver` below) and `page.evaluate`, `page.keyboard`, `page.bringToFront`,
// `page.close`. What one browser lets a test see beyond that (Chromium shows the background's
// requests) is checked by the driver's `checkCaptureRequest`.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import {
  control,
  lastVisionImage,
  lastVisionImageType,
  loggedStatuses,
  startLatchkey,
  startPages,
  visionCalls,
} from "./stack.mjs";

const CAPTURE_PATH = "/api/openai/extract-subtitles";

/**
 * A browser as the journey needs it:
 * - `name`: "chromium" or "firefox", in the suite's and the output folder's names;
 * - `serverEnv(mode)`: what latchkey needs for this browser in this mode;
 * - `launch(name, { base, testName, pages, mode })`: a profile with the extension in `mode`;
 * - `signIn(profile, mode)`: signs in from the popup with Google; returns the open popup;
 * - `watchCapture(profile, base)`: a promise of the capture request as the browser sent it,
 *   or null where the driver cannot see the background's requests;
 * - `checkCaptureRequest(sent, mode)`: asserts what that request carried.
 * A profile offers `openPopup()`, `shot(page, step)`, `newTab(url)`, `grantClipboard(origin)`,
 * `pressToolbarButton(tab)`, `cookies()` and `out` (its output folder).
 *
 * @param {{ driver: object, mode: "cookie" | "token", user: object }} options
 */
export function captureJourney({ driver, mode, user }) {
  const testName = `${driver.name === "chromium" ? "" : `${driver.name}-`}capture${mode === "cookie" ? "" : `-${mode}`}`;

  describe(`subtitles from a video page: ${driver.name}, ${mode} mode`, { timeout: 180_000 }, () => {
    let server;
    let pages;
    let profile;
    let video;

    before(async () => {
      server = await startLatchkey(testName, { LATCHKEY__LOG__FORMAT: "json", ...driver.serverEnv(mode) });
      pages = await startPages();
      await control("/google/user", { ...user, picture: pages.url(user.picture) });
      profile = await driver.launch(user.sub.replace(/^e2e-/, ""), { base: server.base, testName, pages, mode });
    });

    after(async () => {
      await control("/openai/reply", { text: "字幕のテキスト" }).catch(() => {});
      await profile?.close();
      await server?.stop();
      await pages?.stop();
    });

    /** Alt+Shift+S on the video page; returns the new toast, the request as sent, the clipboard. */
    async function pressShortcut() {
      await video.bringToFront();
      // The toast of the previous capture may still be shown: only a new one answers this press.
      await video.evaluate(() => document.querySelector("latchkey-toast")?.setAttribute("data-seen", ""));
      const answered = loggedStatuses(server, CAPTURE_PATH).length;
      const sent = driver.watchCapture(profile, server.base);
      await video.keyboard.down("Alt");
      await video.keyboard.down("Shift");
      await video.keyboard.press("KeyS");
      await video.keyboard.up("Shift");
      await video.keyboard.up("Alt");
      const toast = await until(video, () => {
        const box = document.querySelector("latchkey-toast:not([data-seen])")?.shadowRoot?.querySelector("div");
        return box ? { text: box.textContent.trim(), kind: box.dataset.kind, code: box.dataset.code } : null;
      });
      const status = await nextCaptureStatus(server, answered);
      assert.ok(status, `latchkey got no capture; the page says: ${toast.text}`);
      return {
        toast,
        sent: await sent,
        status,
        clipboard: await video.evaluate(() => navigator.clipboard.readText()),
      };
    }

    /** The popup, open, once its avatar has loaded (for the screenshots). */
    async function popupWithAvatar() {
      const popup = await profile.openPopup();
      await until(popup, () => document.getElementById("avatar").naturalWidth > 0);
      return popup;
    }

    it("Alt+Shift+S puts {subtitles, url, time} on the clipboard, through the background", async () => {
      const popup = await driver.signIn(profile, mode);
      assert.equal(await domText(popup, "#usage-text"), "0 of 3 captures");
      await profile.shot(popup, "signed-in");
      await popup.close();

      video = await profile.newTab(pages.url("/video.html"));
      await until(video, () => document.getElementById("player").currentTime > 0.2);
      await profile.grantClipboard(pages.origin);
      // The user clicks the latchkey button on this tab once (the extension command's shortcut
      // does the same in a real browser): the browser grants activeTab, which capturing needs.
      await profile.pressToolbarButton(video);

      await control("/openai/reply", { text: "字幕その一" });
      const callsBefore = await visionCalls();
      const first = await pressShortcut();

      // What the browser shows and holds.
      assert.deepEqual(first.toast, { text: "Copied: 字幕その一", kind: "ok", code: "" });
      const copied = JSON.parse(first.clipboard);
      assert.deepEqual(Object.keys(copied).sort(), ["subtitles", "time", "url"]);
      assert.equal(copied.subtitles, "字幕その一");
      assert.equal(copied.url, pages.url("/video.html"));
      assert.equal(typeof copied.time, "number");
      const now = await video.evaluate(() => document.getElementById("player").currentTime);
      assert.ok(copied.time > 0 && copied.time <= now, `time ${copied.time} within the video's ${now}`);

      // What the browser sent, where the driver can see it; what latchkey answered.
      if (first.sent) await driver.checkCaptureRequest(first.sent, mode);
      assert.equal(first.status, 200);
      // The session that answered is of this mode's transport, and the browser holds a
      // session cookie only in cookie mode: in token mode the bearer token was the credential.
      assert.deepEqual(sessionTransports(server, user.email), [mode === "token" ? "bearer" : "cookie"]);
      const sessionCookie = (await profile.cookies()).find((c) => c.name === "__Host-latchkey_session");
      assert.equal(Boolean(sessionCookie), mode === "cookie", "a session cookie only in cookie mode");

      // The frame arrived where it was sent: the vision API got exactly one PNG of the visible
      // tab (the video page's viewport), kept with the results.
      assert.equal(await visionCalls(), callsBefore + 1);
      assert.equal(await lastVisionImageType(), "image/png");
      const frame = await lastVisionImage();
      writeFileSync(path.join(profile.out, `${driver.name}-captured-frame.png`), frame);
      assert.equal(frame.subarray(1, 4).toString("latin1"), "PNG");
      const size = [frame.readUInt32BE(16), frame.readUInt32BE(20)];
      assert.deepEqual(size, await video.evaluate(() => [innerWidth, innerHeight]), "the whole viewport");
    });

    it("the popup counts today's usage; the limit shows as reached, and a 4th capture is refused", async () => {
      await control("/openai/reply", { text: "字幕その二" });
      const second = await pressShortcut();
      assert.equal(second.toast.text, "Copied: 字幕その二");
      assert.equal(JSON.parse(second.clipboard).subtitles, "字幕その二");

      let popup = await popupWithAvatar();
      assert.equal(await domText(popup, "#plan"), "free");
      assert.equal(await domText(popup, "#usage-text"), "2 of 3 captures");
      assert.equal(await domText(popup, "#last-capture"), "Last capture: “字幕その二”");
      assert.equal(await isShown(popup, "#quota"), false);
      await profile.shot(popup, "signed-in-usage");
      await popup.close();

      await control("/openai/reply", { text: "字幕その三" });
      const third = await pressShortcut();
      assert.equal(third.toast.text, "Copied: 字幕その三");

      const callsBefore = await visionCalls();
      await control("/openai/reply", { text: "字幕その四" });
      const fourth = await pressShortcut();
      assert.equal(fourth.status, 429);
      if (fourth.sent) await driver.checkRefusal(fourth.sent);
      assert.equal(fourth.toast.kind, "error");
      assert.equal(fourth.toast.code, "quota_exceeded");
      assert.match(fourth.toast.text, /^latchkey: Today's limit is reached\. It resets in /);
      assert.equal(JSON.parse(fourth.clipboard).subtitles, "字幕その三", "the clipboard is left alone");
      assert.equal(await visionCalls(), callsBefore, "the vision API was not called");

      popup = await popupWithAvatar();
      assert.equal(await domText(popup, "#usage-text"), "3 of 3 captures");
      assert.equal(await isShown(popup, "#quota"), true);
      assert.match(
        await domText(popup, "#quota"),
        /^Daily limit reached: 3 of 3 captures used\. It resets at midnight UTC, in /,
      );
      assert.equal(await isShown(popup, "#last-capture"), false, "said once, in the notice");
      await profile.shot(popup, "quota-reached");
      await popup.close();
    });

    it("a plan changed with the CLI shows at the next opening and lifts the limit", async () => {
      const run = server.cli("plan", "set", user.email, "pro");
      assert.equal(run.status, 0, `latchkey plan set: ${run.stderr}`);

      const popup = await popupWithAvatar();
      assert.equal(await domText(popup, "#plan"), "pro");
      assert.equal(await domText(popup, "#usage-text"), "3 captures · unlimited");
      assert.equal(await isShown(popup, "#quota"), false);
      assert.equal(await isShown(popup, "#last-capture"), false, "the old refusal is moot");
      await profile.shot(popup, "pro");
      await popup.close();

      await control("/openai/reply", { text: "字幕その五" });
      const fifth = await pressShortcut();
      assert.equal(fifth.status, 200);
      assert.equal(JSON.parse(fifth.clipboard).subtitles, "字幕その五");
    });
  });
}

/** Polls `fn` (run in the page, with `arg`) until it returns something truthy; returns that. */
export async function until(page, fn, arg, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(fn, arg).catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The text of an element, trimmed. */
export async function domText(page, selector) {
  return page.evaluate((s) => (document.querySelector(s)?.textContent ?? "").trim(), selector);
}

/** Whether an element is rendered (not hidden, in a box). */
export async function isShown(page, selector) {
  return page.evaluate((s) => Boolean(document.querySelector(s)?.checkVisibility()), selector);
}

/** The status of the answer after the first `seen` ones, once it is in the log (else undefined). */
async function nextCaptureStatus(server, seen) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const statuses = loggedStatuses(server, CAPTURE_PATH);
    if (statuses.length > seen) {
      assert.equal(statuses.length, seen + 1, "one request per press");
      return statuses[seen];
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The transports of the user's sessions, as `latchkey sessions list` shows them. */
function sessionTransports(server, email) {
  const listed = server.cli("sessions", "list", "--user", email, "--json");
  assert.equal(listed.status, 0, listed.stderr);
  return [...listed.stdout.matchAll(/"transport":\s*"(\w+)"/g)].map((m) => m[1]);
}
