// The popup: sign in with a provider, then show who is signed in, their plan and today's
// usage, and sign out here or everywhere else. Everything it knows comes from latchkey on each
// opening, so a session revoked elsewhere shows as signed out at once.
//
// Cookie mode: the popup calls latchkey itself and opens the provider's page in a new tab.
// Token mode: the background does both (api.js forwards every call), since only it holds the
// session token; the sign-in opens in the browser's sign-in window or a tab.

import {
  ApiError,
  currentUser,
  duration,
  explain,
  listSessions,
  loginUrl,
  recentEvents,
  signedOutReason,
  signOut,
  signOutEverywhereElse,
} from "./api.js";
import { ext, sessionArea } from "./browser.js";
import { getBaseUrl, getMode, PROVIDERS } from "./config.js";

const $ = (id) => document.getElementById(id);
const LOGIN_RESULT_TTL_MS = 10 * 60 * 1000; // as long as a sign-in flow may take

function show(state) {
  $("popup").dataset.state = state;
}

function status(text = "") {
  $("status").textContent = text;
}

async function refresh() {
  const base = await getBaseUrl();
  $("server").textContent = base;
  let user;
  try {
    user = await currentUser();
  } catch (error) {
    $("error-text").textContent = explain(error);
    show("error");
    return;
  }
  if (user) await renderSignedIn(user);
  else await renderSignedOut();
}

// ---------------------------------------------------------------------------------------------
// Signed out

// Why the session this browser had ended, from the 401's `reason` ("no_session" and
// "unknown" say nothing worth telling).
const SIGNED_OUT_BECAUSE = {
  signed_out: "You were signed out.",
  revoked: "You were signed out from another of your browsers.",
  revoked_by_operator: "An administrator ended your session.",
  account_disabled: "This account has been disabled.",
  evicted: "You were signed out: this account signed in on too many browsers.",
  idle_timeout: "You were signed out after a long time without use.",
  expired: "Your session reached its time limit.",
};

function providerLabel(id) {
  return PROVIDERS.find((p) => p.id === id)?.label.replace(/^Sign in with /, "") ?? id;
}

async function renderSignedOut() {
  const { loginResult } = await sessionArea.get("loginResult");
  const notice = $("notice");
  const recent = loginResult && Date.now() - loginResult.at < LOGIN_RESULT_TTL_MS;
  if (recent) {
    const name = providerLabel(loginResult.provider);
    // "access_denied" is the provider's word for "Deny" (cookie mode sees it in the callback's
    // address), "consent_denied" latchkey's (token mode gets it at the redirect URI).
    const denied = loginResult.error === "access_denied" || loginResult.error === "consent_denied";
    notice.textContent = denied
      ? `Sign-in with ${name} was cancelled: "Deny" was chosen on ${name}'s page. You are still signed out.`
      : loginResult.error && loginResult.error !== "incomplete"
        ? `${name} refused the sign-in (${loginResult.error}). You are still signed out.`
        : `Sign-in with ${name} did not complete. Please try again.`;
    notice.dataset.reason = loginResult.error ?? "incomplete";
    notice.hidden = false;
  } else if (SIGNED_OUT_BECAUSE[signedOutReason]) {
    notice.textContent = `${SIGNED_OUT_BECAUSE[signedOutReason]} Sign in again to continue.`;
    notice.dataset.reason = signedOutReason;
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
  const list = $("providers");
  list.replaceChildren(
    ...PROVIDERS.map(({ id, label }) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.provider = id;
      button.textContent = label;
      button.addEventListener("click", () => signIn(id));
      return button;
    }),
  );
  show("signed-out");
}

async function signIn(provider) {
  for (const b of $("providers").querySelectorAll("button")) b.disabled = true;
  status("Opening the sign-in page…");
  try {
    if ((await getMode()) === "token") {
      await signInWithToken(provider);
      return;
    }
    const url = await loginUrl(provider);
    await sessionArea.remove("loginResult");
    await ext.tabs.create({ url });
    status("Continue in the new tab, then open latchkey again.");
  } catch (error) {
    status(explain(error));
  } finally {
    for (const b of $("providers").querySelectorAll("button")) b.disabled = false;
  }
}

/**
 * Token mode: the background runs the whole sign-in (it alone may see the verifier and the
 * token). The popup may close while the user is on the provider's page; the background's note
 * in storage refreshes it if it is still open.
 */
async function signInWithToken(provider) {
  status("Continue in the sign-in window, then open latchkey again.");
  const reply = await ext.runtime.sendMessage({ type: "latchkey:sign-in", provider });
  if (reply?.ok) {
    // Signed in: the background's note in storage has already refreshed the popup.
    if (!reply.pending) status("");
    return;
  }
  status(reply?.message ?? "The sign-in did not start.");
}

// ---------------------------------------------------------------------------------------------
// Signed in

async function renderSignedIn(user) {
  await sessionArea.remove("loginResult");
  const name = user.name || user.email || "Signed in";
  $("user-name").textContent = name;
  $("user-email").textContent = user.email && user.email !== name ? user.email : "";
  avatar(user.image ?? user.profile, name);

  const plan = user.plan ?? user.current_plan ?? "free";
  $("plan").textContent = plan;
  $("plan").dataset.plan = plan;

  const count = user.today_ocr_count ?? 0;
  const limit = user.daily_ocr_limit;
  const bar = $("usage-bar");
  if (limit === null || limit === undefined) {
    $("usage-text").textContent = `${count} ${count === 1 ? "capture" : "captures"} · unlimited`;
    bar.parentElement.hidden = true;
  } else {
    $("usage-text").textContent = `${count} of ${limit} captures`;
    bar.parentElement.hidden = false;
    bar.style.width = `${Math.min(100, (100 * count) / Math.max(limit, 1))}%`;
    bar.toggleAttribute("data-full", count >= limit);
  }
  const reached = limit !== null && limit !== undefined && count >= limit;
  $("quota").hidden = !reached;
  if (reached) {
    $("quota").textContent =
      `Daily limit reached: ${limit} of ${limit} captures used. ` +
      `It resets at midnight UTC, in ${duration(secondsToUtcMidnight())}.`;
  }

  const { lastCapture } = await sessionArea.get("lastCapture");
  const last = $("last-capture");
  // A refusal for the quota is said in the notice above while it holds, and moot once the
  // plan is unlimited.
  const unlimited = limit === null || limit === undefined;
  last.hidden = !lastCapture || (lastCapture.code === "quota_exceeded" && (reached || unlimited));
  if (lastCapture) {
    last.textContent = lastCapture.ok
      ? `Last capture: “${lastCapture.subtitles || "no subtitle"}”`
      : `Last capture failed: ${lastCapture.message}`;
  }

  try {
    const sessions = await listSessions();
    const others = sessions.filter((s) => !s.current).length;
    $("sessions").textContent =
      others === 0
        ? "Signed in on this browser only."
        : `Signed in here and on ${others} other ${others === 1 ? "browser" : "browsers"}.`;
    $("sign-out-others").disabled = others === 0;
  } catch {
    $("sessions").textContent = "";
    $("sign-out-others").disabled = false;
  }
  await renderActivity();
  show("signed-in");
}

// ---------------------------------------------------------------------------------------------
// Recent activity: the user's own security events ("New sign-in from Firefox 153 on Linux").

const ACTIVITY = {
  login: (e) => `New sign-in from ${e.device ?? "an unknown device"}`,
  login_failed: (e) => `Refused sign-in (${e.reason ?? "failed"})`,
  logout: (e) => `Signed out on ${e.device ?? "a device"}`,
  session_revoked: (e) =>
    e.reason === "evicted"
      ? "Oldest session ended: too many sessions"
      : e.reason === "revoked_by_operator"
        ? "A session was ended by an administrator"
        : "A session was ended by you",
  sessions_revoked: (e) =>
    e.reason === "revoked_by_operator" ? "Sessions ended by an administrator" : "Signed out everywhere else",
  plan_changed: (e) => `Plan changed (${e.reason ?? "updated"})`,
  account_disabled: () => "Account disabled",
  account_enabled: () => "Account enabled",
};

async function renderActivity() {
  const panel = $("activity");
  let events;
  try {
    events = await recentEvents(5);
  } catch {
    panel.hidden = true; // a server without the route, or the database down: no panel
    return;
  }
  const items = events.map((e) => {
    const li = document.createElement("li");
    const what = document.createElement("span");
    what.textContent = (ACTIVITY[e.kind] ?? (() => e.kind))(e);
    const when = document.createElement("span");
    when.textContent = ago(e.at);
    when.title = e.ip ? `${e.at} · ${e.ip}` : e.at;
    li.append(what, when);
    li.dataset.kind = e.kind;
    return li;
  });
  $("activity-list").replaceChildren(...items);
  panel.hidden = items.length === 0;
}

function ago(at) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
  return seconds < 60 ? "just now" : `${duration(seconds)} ago`;
}

function avatar(src, name) {
  const img = $("avatar");
  const initials = $("initials");
  const fallback = () => {
    img.hidden = true;
    initials.hidden = false;
    initials.textContent = name
      .split(/\s+/)
      .map((w) => w[0])
      .join("")
      .slice(0, 2)
      .toUpperCase();
  };
  if (!src) return fallback();
  img.hidden = false;
  initials.hidden = true;
  img.onerror = fallback;
  img.src = src;
}

function secondsToUtcMidnight() {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((midnight - now.getTime()) / 1000);
}

$("sign-out").addEventListener("click", async () => {
  status("");
  try {
    await signOut();
    await refresh();
    status("Signed out.");
  } catch (error) {
    status(explain(error));
  }
});

$("sign-out-others").addEventListener("click", async () => {
  status("");
  try {
    const revoked = await signOutEverywhereElse();
    await refresh();
    status(`Signed out ${revoked} other ${revoked === 1 ? "session" : "sessions"}.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) await refresh();
    status(explain(error));
  }
});

$("retry").addEventListener("click", () => refresh());
$("options").addEventListener("click", (event) => {
  event.preventDefault();
  ext.runtime.openOptionsPage();
});

// The sign-in reports back through the background: refresh if we are still open.
ext.storage.onChanged.addListener((changes) => {
  if (changes.loginResult?.newValue) refresh();
});

refresh();
