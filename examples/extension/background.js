// The service worker: the only part of the extension that talks to the vision proxy.
//
// A content script's fetch carries the *page's* origin (https://www.youtube.com), so latchkey
// would refuse the POST (403 origin_not_allowed) and CORS would hide any answer. The worker's
// requests carry the extension's own origin, which the server allows, and the browser's
// session cookie. Messages between the two carry only plain, serialisable data.
//
// It also watches the sign-in tab: when the provider sends it back to latchkey's callback,
// the outcome is noted so that the popup, the next time it opens, can say why the user is
// still signed out (for example after "Deny" on the consent page).

import { ApiError, explain, extractSubtitles } from "./api.js";
import { getBaseUrl } from "./config.js";

const CAPTURE = "latchkey:capture"; // content script → worker: capture and read this tab
const SHORTCUT = "latchkey:shortcut"; // worker → content script: the command was pressed

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (message?.type !== CAPTURE || !sender.tab) return false;
  capture(sender.tab).then(reply);
  return true; // the reply comes later
});

// The keyboard shortcut declared in manifest.json ("commands"). Pressing it also grants the
// activeTab permission for this tab, which captureVisibleTab needs; the content script then
// runs the same capture as for its own key listener.
chrome.commands.onCommand.addListener((command, tab) => {
  if (command !== "extract-subtitles" || tab?.id === undefined) return;
  chrome.tabs.sendMessage(tab.id, { type: SHORTCUT }).catch(() => {
    // No content script on this page: not a video site this extension works on.
  });
});

/**
 * Captures the visible part of the sender's tab and sends it to latchkey. Answers
 * `{ ok: true, subtitles }` or `{ ok: false, code, status, message, retryAfter }`.
 */
async function capture(tab) {
  let result;
  try {
    if (!tab.active) throw new Error("Only the tab in front can be captured.");
    const dataUrl = await chrome.tabs.captureVisibleTab(tab.windowId, { format: "png" });
    const image = await (await fetch(dataUrl)).blob();
    const subtitles = await extractSubtitles(image);
    result = { ok: true, subtitles };
  } catch (error) {
    result = {
      ok: false,
      code: error instanceof ApiError ? error.code : "capture_failed",
      status: error instanceof ApiError ? error.status : 0,
      retryAfter: error instanceof ApiError ? error.retryAfter : null,
      message: permissionHint(error) ?? explain(error),
    };
  }
  // For the popup's "last capture" line.
  await chrome.storage.session.set({ lastCapture: { ...result, at: Date.now() } });
  return result;
}

function permissionHint(error) {
  return /activeTab|<all_urls>/.test(String(error?.message))
    ? "Press the shortcut (Alt+Shift+S) or click the latchkey button once on this tab, then try again."
    : null;
}

// The sign-in tab: `/auth/{provider}/callback?…` on our latchkey is where every flow ends. The
// URL says whether the provider reported a refusal (`error=access_denied` after "Deny"); the
// popup asks latchkey whether a session followed. Needs no "tabs" permission: the host
// permission for latchkey's URL is what lets the worker see these URLs.
chrome.tabs.onUpdated.addListener(async (_tabId, change) => {
  if (!change.url) return;
  let url;
  let base;
  try {
    url = new URL(change.url);
    base = new URL(await getBaseUrl());
  } catch {
    return;
  }
  if (url.origin !== base.origin) return;
  const prefix = base.pathname.replace(/\/$/, "");
  if (!url.pathname.startsWith(prefix)) return;
  const match = url.pathname.slice(prefix.length).match(/^\/auth\/([a-z0-9-]+)\/callback$/);
  if (!match) return;
  await chrome.storage.session.set({
    loginResult: { provider: match[1], error: url.searchParams.get("error"), at: Date.now() },
  });
});
