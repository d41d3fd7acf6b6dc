// The background (a service worker in Chromium and Safari, an event page in Firefox: the
// manifest names the same file for both): the only part of the extension that talks to the
// vision proxy, and in token mode the only one that holds the session token.
//
// A content script's fetch carries the *page's* origin (https://www.youtube.com), so latchkey
// would refuse the POST (403 origin_not_allowed) and CORS would hide any answer. The
// background's requests carry the extension's own origin and its credential (the browser's
// session cookie, or the bearer token). Messages carry only plain, serialisable data.
//
// It also watches the sign-in: in cookie mode the tab that reaches latchkey's callback, in
// token mode the whole flow. The outcome is noted so that the popup, the next time it opens,
// can say why the user is still signed out (for example after "Deny" on the consent page).

import {
  anonymousRequest,
  answerForPage,
  API_CALL,
  errorReply,
  extractSubtitles,
  holdTokens,
} from "./api.js";
import { ext, ownOrigin, sessionArea } from "./browser.js";
import { getBaseUrl, getMode } from "./config.js";
import {
  forgetToken,
  isRedirect,
  loadToken,
  peekFlow,
  pkcePair,
  readRedirect,
  redirectTarget,
  rememberFlow,
  restrictSessionStorage,
  saveToken,
  takeFlow,
} from "./token.js";

const CAPTURE = "latchkey:capture"; // content script → background: capture and read this tab
const SHORTCUT = "latchkey:shortcut"; // background → content script: the command was pressed
const SIGN_IN = "latchkey:sign-in"; // popup → background: token-mode sign-in with a provider

holdTokens({ load: loadToken, forget: forgetToken });
restrictSessionStorage();

ext.runtime.onMessage.addListener((message, sender, reply) => {
  let work = null;
  if (message?.type === CAPTURE && sender.tab) {
    work = capture(sender.tab);
  } else if (fromOwnPage(sender) && message?.type === API_CALL) {
    work = answerForPage(message);
  } else if (fromOwnPage(sender) && message?.type === SIGN_IN) {
    work = signInWithToken(String(message.provider));
  }
  if (!work) return false;
  work.then(reply);
  return true; // the reply comes later
});

/**
 * Only the extension's own pages (popup, options) may have the background call latchkey with
 * the token on their behalf: a content script's sender is the web page it runs in, whose URL
 * is not ours. Content scripts get the capture, nothing else.
 */
function fromOwnPage(sender) {
  return sender.id === ext.runtime.id && typeof sender.url === "string" && sender.url.startsWith(`${ownOrigin}/`);
}

// The keyboard shortcut declared in manifest.json ("commands"). Pressing it also grants the
// activeTab permission for this tab, which captureVisibleTab needs; the content script then
// runs the same capture as for its own key listener.
ext.commands.onCommand.addListener((command, tab) => {
  if (command !== "extract-subtitles" || tab?.id === undefined) return;
  ext.tabs.sendMessage(tab.id, { type: SHORTCUT }).catch(() => {
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
    const dataUrl = await ext.tabs.captureVisibleTab(tab.windowId, { format: "png" });
    const image = await (await fetch(dataUrl)).blob();
    const subtitles = await extractSubtitles(image);
    result = { ok: true, subtitles };
  } catch (error) {
    result = errorReply(error);
    if (result.code === "failed") result.code = "capture_failed";
    result.message = permissionHint(error) ?? result.message;
  }
  // For the popup's "last capture" line.
  await sessionArea.set({ lastCapture: { ...result, at: Date.now() } });
  return result;
}

function permissionHint(error) {
  return /activeTab|<all_urls>/.test(String(error?.message))
    ? "Press the shortcut (Alt+Shift+S) or click the latchkey button once on this tab, then try again."
    : null;
}

// ---------------------------------------------------------------------------------------------
// Token mode's sign-in

/**
 * The whole token-mode sign-in: PKCE pair and state, `authUrl` from latchkey, the sign-in
 * window, the code from its final address, the exchange, the token kept. Answers
 * `{ ok: true }` or the error as plain data; the outcome is also noted for the popup.
 */
async function signInWithToken(provider) {
  try {
    const base = await getBaseUrl();
    const { verifier, challenge } = await pkcePair();
    // Our own `state`, checked on the way back, so that an address we did not ask for (a code
    // planted from another flow) is never exchanged.
    const state = crypto.randomUUID();
    const target = redirectTarget(base);
    const query = new URLSearchParams({
      mode: "token",
      redirect_uri: target.uri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state,
    });
    const login = `/auth/${encodeURIComponent(provider)}/login`;
    let authUrl;
    if (target.viaLatchkey) {
      // The window opens latchkey's URL, which sends it on to the provider (see redirectTarget).
      query.set("response", "redirect");
      authUrl = `${base}${login}?${query}`;
    } else {
      ({ authUrl } = await anonymousRequest(`${login}?${query}`));
    }
    await sessionArea.remove("loginResult");
    const flow = { provider, verifier, state, redirectUri: target.uri };
    if (target.window === "identity") {
      let address;
      try {
        address = await ext.identity.launchWebAuthFlow({ url: authUrl, interactive: true });
      } catch {
        // The user closed the window (or the browser refused to open it).
        await noteSignIn(provider, "incomplete");
        return { ok: false, code: "incomplete", status: 0, message: "The sign-in window was closed." };
      }
      return await finishSignIn(flow, address);
    }
    // A tab, read by the tabs.onUpdated listener below; the flow is remembered in storage so
    // that a background restarted in between (an idle worker is stopped) can still finish it.
    await rememberFlow(flow);
    await ext.tabs.create({ url: authUrl });
    return { ok: true, pending: true };
  } catch (error) {
    return errorReply(error);
  }
}

/** The code (or error) from the redirect URI's address, exchanged for the session token. */
async function finishSignIn(flow, address) {
  const answer = readRedirect(address, flow.state);
  if (answer.error) {
    await noteSignIn(flow.provider, answer.error);
    return { ok: false, code: answer.error, status: 0, message: `The sign-in did not complete (${answer.error}).` };
  }
  try {
    const { session_token: token } = await anonymousRequest("/auth/token", {
      method: "POST",
      json: { code: answer.code, code_verifier: flow.verifier },
    });
    await saveToken(token);
    await noteSignIn(flow.provider, null);
    return { ok: true };
  } catch (error) {
    const reply = errorReply(error);
    await noteSignIn(flow.provider, reply.code);
    return reply;
  }
}

/** For the popup: how the last sign-in ended (`error` null: signed in). */
async function noteSignIn(provider, error) {
  await sessionArea.set({ loginResult: { provider, error, at: Date.now() } });
}

// ---------------------------------------------------------------------------------------------
// The sign-in tab
//
// Cookie mode: `/auth/{provider}/callback?…` on our latchkey is where every flow ends. The URL
// says whether the provider reported a refusal (`error=access_denied` after "Deny"); the popup
// asks latchkey whether a session followed.
//
// Token mode without `identity.launchWebAuthFlow` (Safari): the tab ends on
// `{base}/auth/complete?code=…&state=…`; the background reads the code from the address,
// closes the tab and finishes the sign-in.
//
// Needs no "tabs" permission: the host permission for latchkey's URL is what lets the
// background see these URLs.
const finishing = new Set(); // states of flows being finished by this background

ext.tabs.onUpdated.addListener(async (tabId, change) => {
  if (!change.url) return;
  const flow = await peekFlow();
  if (flow && isRedirect(change.url, flow.redirectUri)) {
    // Once per flow: two updates of the tab may both get here; checked and marked with no
    // `await` in between, so only the first one exchanges the code.
    if (finishing.has(flow.state)) return;
    finishing.add(flow.state);
    await takeFlow();
    ext.tabs.remove(tabId).catch(() => {});
    await finishSignIn(flow, change.url);
    return;
  }
  if ((await getMode()) !== "cookie") return;
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
  await sessionArea.set({
    loginResult: { provider: match[1], error: url.searchParams.get("error"), at: Date.now() },
  });
});
