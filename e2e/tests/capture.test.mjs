// The content script's capture on a local page with a playing <video>: Alt+Shift+S asks the
// background worker to capture the visible tab and post it to the vision proxy (the fake
// vision API answers), and the JSON `{subtitles, url, time}` lands on the clipboard. The
// popup counts the usage, shows the daily limit reached (the e2e server's free limit is 3),
// and a plan changed with the CLI lifts it on the next request.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { chooseUser, cookieValue, Profile, signInFromPopup, text } from "../lib/browser.mjs";
import {
  control,
  EXTENSION_ORIGIN,
  lastVisionImage,
  lastVisionImageType,
  startLatchkey,
  startPages,
  visionCalls,
} from "../lib/stack.mjs";

const SESSION = "__Host-latchkey_session";
const EMAIL = "dana@example.com";

describe("subtitles from a video page", { timeout: 180_000 }, () => {
  let server;
  let pages;
  let profile;
  let video;

  before(async () => {
    server = await startLatchkey("capture");
    pages = await startPages();
    await chooseUser("google", {
      sub: "e2e-dana",
      email: EMAIL,
      name: "Dana Tanaka",
      picture: pages.url("/avatar-dana.svg"),
    });
    profile = await Profile.launch("dana", { base: server.base, testName: "capture" });
  });

  after(async () => {
    await control("/openai/reply", { text: "字幕のテキスト" }).catch(() => {});
    await profile?.close();
    await server?.stop();
    await pages?.stop();
  });

  /** Alt+Shift+S on the video page; returns the toast, the worker's request and the clipboard. */
  async function pressShortcut() {
    await video.bringToFront();
    const request = profile.context.waitForEvent("request", {
      predicate: (r) => r.url() === `${server.base}/api/openai/extract-subtitles`,
      timeout: 15_000,
    });
    await video.keyboard.press("Alt+Shift+KeyS");
    const toast = video.locator("latchkey-toast div");
    await toast.waitFor({ timeout: 15_000 });
    const sent = await request;
    const response = await sent.response();
    return {
      toast: { text: (await toast.textContent()).trim(), kind: await toast.getAttribute("data-kind") },
      request: sent,
      headers: await sent.allHeaders(),
      response,
      clipboard: await video.evaluate(() => navigator.clipboard.readText()),
    };
  }

  it("Alt+Shift+S puts {subtitles, url, time} on the clipboard, through the worker", async () => {
    const popup = await signInFromPopup(profile, "google");
    assert.equal(await text(popup, "#usage-text"), "0 of 3 captures");
    await profile.shot(popup, "signed-in");
    await popup.close();

    video = await profile.context.newPage();
    await video.goto(pages.url("/video.html"));
    await video.waitForFunction(() => document.getElementById("player").currentTime > 0.2);
    await profile.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: pages.origin });
    // The user clicks the latchkey button on this tab once (the extension command's shortcut
    // does the same in a real browser): Chrome grants activeTab, which capturing needs.
    await profile.pressToolbarButton(video);

    await control("/openai/reply", { text: "字幕その一" });
    const callsBefore = await visionCalls();
    const first = await pressShortcut();

    // What the browser shows and holds.
    assert.deepEqual(first.toast, { text: "Copied: 字幕その一", kind: "ok" });
    const copied = JSON.parse(first.clipboard);
    assert.deepEqual(Object.keys(copied).sort(), ["subtitles", "time", "url"]);
    assert.equal(copied.subtitles, "字幕その一");
    assert.equal(copied.url, pages.url("/video.html"));
    assert.equal(typeof copied.time, "number");
    const now = await video.evaluate(() => document.getElementById("player").currentTime);
    assert.ok(copied.time > 0 && copied.time <= now, `time ${copied.time} within the video's ${now}`);

    // What the browser sent: from the extension's service worker, with the extension's origin,
    // the session cookie, a multipart body with a PNG, and no other credential.
    assert.ok(first.request.serviceWorker(), "sent by the background worker, not the page");
    assert.equal(first.request.method(), "POST");
    assert.equal(first.headers.origin, EXTENSION_ORIGIN);
    assert.ok(cookieValue(first.headers.cookie, SESSION), "the session cookie was sent");
    assert.equal(first.headers["x-csrf-token"], undefined);
    assert.match(first.headers["content-type"], /^multipart\/form-data; boundary=/);
    assert.ok(Number(first.headers["content-length"]) > 1000, "a whole frame in the body");
    assert.equal(first.response.status(), 200);
    assert.deepEqual(await first.response.json(), { success: true, subtitles: "字幕その一" });
    // (The browser does not hand a Blob body to the inspector; the frame is checked where it
    // arrives: the vision API got exactly one PNG.)
    assert.equal(await visionCalls(), callsBefore + 1);
    assert.equal(await lastVisionImageType(), "image/png");
    // The frame is the visible tab: a PNG of the video page's viewport, kept with the results.
    const frame = await lastVisionImage();
    writeFileSync(path.join(profile.out, "captured-frame.png"), frame);
    assert.equal(frame.subarray(1, 4).toString("latin1"), "PNG");
    assert.deepEqual([frame.readUInt32BE(16), frame.readUInt32BE(20)], [960, 640]);
  });

  it("the popup counts today's usage; the limit shows as reached, and a 4th capture is refused", async () => {
    await control("/openai/reply", { text: "字幕その二" });
    const second = await pressShortcut();
    assert.equal(second.toast.text, "Copied: 字幕その二");
    assert.equal(JSON.parse(second.clipboard).subtitles, "字幕その二");

    let popup = await profile.openPopup();
    assert.equal(await text(popup, "#plan"), "free");
    assert.equal(await text(popup, "#usage-text"), "2 of 3 captures");
    assert.equal(await text(popup, "#last-capture"), "Last capture: “字幕その二”");
    assert.equal(await popup.locator("#quota").isHidden(), true);
    await popup.waitForFunction(() => document.getElementById("avatar").naturalWidth > 0);
    await profile.shot(popup, "signed-in-usage");
    await popup.close();

    await control("/openai/reply", { text: "字幕その三" });
    const third = await pressShortcut();
    assert.equal(third.toast.text, "Copied: 字幕その三");

    const callsBefore = await visionCalls();
    await control("/openai/reply", { text: "字幕その四" });
    const fourth = await pressShortcut();
    assert.equal(fourth.response.status(), 429);
    assert.equal((await fourth.response.json()).code, "quota_exceeded");
    assert.ok(Number(await fourth.response.headerValue("retry-after")) > 0, "Retry-After");
    assert.equal(fourth.toast.kind, "error");
    assert.match(fourth.toast.text, /^latchkey: Today's limit is reached\. It resets in /);
    assert.equal(JSON.parse(fourth.clipboard).subtitles, "字幕その三", "the clipboard is left alone");
    assert.equal(await visionCalls(), callsBefore, "the vision API was not called");

    popup = await profile.openPopup();
    assert.equal(await text(popup, "#usage-text"), "3 of 3 captures");
    assert.equal(await popup.locator("#quota").isVisible(), true);
    assert.match(await text(popup, "#quota"), /^Daily limit reached: 3 of 3 captures used\. It resets at midnight UTC, in /);
    assert.equal(await popup.locator("#last-capture").isHidden(), true, "said once, in the notice");
    await popup.waitForFunction(() => document.getElementById("avatar").naturalWidth > 0);
    await profile.shot(popup, "quota-reached");
    await popup.close();
  });

  it("a plan changed with the CLI shows at the next opening and lifts the limit", async () => {
    const run = server.cli("plan", "set", EMAIL, "pro");
    assert.equal(run.status, 0, `latchkey plan set: ${run.stderr}`);

    const popup = await profile.openPopup();
    assert.equal(await text(popup, "#plan"), "pro");
    assert.equal(await text(popup, "#usage-text"), "3 captures · unlimited");
    assert.equal(await popup.locator("#quota").isHidden(), true);
    assert.equal(await popup.locator("#last-capture").isHidden(), true, "the old refusal is moot");
    await popup.waitForFunction(() => document.getElementById("avatar").naturalWidth > 0);
    await profile.shot(popup, "pro");
    await popup.close();

    await control("/openai/reply", { text: "字幕その五" });
    const fifth = await pressShortcut();
    assert.equal(fifth.response.status(), 200);
    assert.equal(JSON.parse(fifth.clipboard).subtitles, "字幕その五");
  });
});
