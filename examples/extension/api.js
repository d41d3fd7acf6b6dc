// Every call the extension makes to latchkey, as docs/api.md describes them. Used by the popup,
// the options page and the background; the content script never calls latchkey itself (its
// requests would carry the page's origin, which latchkey refuses).
//
// Two ways to carry the session (config.js, "mode"):
// - cookie mode: every request sends the browser's cookies (`credentials: "include"`); the
//   session lives in an HttpOnly cookie that no script here can read, and that is the point.
//   The popup calls latchkey itself.
// - token mode: only the background holds the session token, so every call goes through it:
//   a page of the extension asks the background by message, and the background sends
//   `Authorization: Bearer <token>` and no cookies. A 401 means the session ended on the
//   server (signed out elsewhere, revoked, expired): the token is forgotten.

import { ext } from "./browser.js";
import { getBaseUrl, getMode } from "./config.js";

/** The message an extension page sends the background to make a call in token mode. */
export const API_CALL = "latchkey:api";

/**
 * A refusal from latchkey, or no answer at all (status 0, code "network_error"). A 401 has a
 * `reason`: why the session ended (`signed_out`, `revoked`, `idle_timeout`, …).
 */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null, reason = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.reason = reason;
  }
}

// Set by the background only (`holdTokens`): how to read and forget the session token. Each
// context has its own copy of this module, so in the popup it stays null.
let tokens = null;

/** Called once by the background: this context holds the token and makes token-mode calls. */
export function holdTokens(store) {
  tokens = store;
}

async function request(path, { method = "GET", csrf = false, body } = {}) {
  if ((await getMode()) === "token") {
    return tokens ? bearerRequest(path, { method, body }) : viaBackground(path, method);
  }
  const base = await getBaseUrl();
  const headers = {};
  if (csrf) headers["X-CSRF-Token"] = await csrfToken(base);
  return send(base, path, { method, credentials: "include", headers, body });
}

/** In the background, token mode: the bearer token, no cookies, no CSRF header. */
async function bearerRequest(path, { method, body }) {
  const signingOut = method === "POST" && path === "/auth/logout";
  const token = await tokens.load();
  if (!token) {
    if (signingOut) return { success: true }; // already signed out
    throw new ApiError(401, "unauthenticated", "You are not signed in.");
  }
  const headers = { Authorization: `Bearer ${token}` };
  let json;
  try {
    json = await send(await getBaseUrl(), path, { method, credentials: "omit", headers, body });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) await tokens.forget();
    throw error; // any other failure keeps the token, so that "Sign out" can be tried again
  }
  // latchkey has ended the session; the token is worthless now and goes too.
  if (signingOut) await tokens.forget();
  return json;
}

/**
 * A request without any credential (token mode's sign-in steps, which carry their own proof:
 * the PKCE challenge, then the code and its verifier). `json`, when given, is the JSON body.
 */
export async function anonymousRequest(path, { method = "GET", json } = {}) {
  const init = { method, credentials: "omit", headers: {} };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  return send(await getBaseUrl(), path, init);
}

/** From an extension page in token mode: the background makes the call and answers with it. */
async function viaBackground(path, method) {
  let reply;
  try {
    reply = await ext.runtime.sendMessage({ type: API_CALL, path, method });
  } catch (error) {
    throw new ApiError(0, "network_error", `The extension's background did not answer: ${error.message}`);
  }
  if (reply?.ok) return reply.json;
  throw new ApiError(reply?.status ?? 0, reply?.code ?? "network_error", reply?.message ?? "No answer.", reply?.retryAfter ?? null, reply?.reason ?? null);
}

/** The background's side of `viaBackground`: makes the call, answers plain data. */
export async function answerForPage({ path, method }) {
  try {
    return { ok: true, json: await request(path, { method }) };
  } catch (error) {
    return errorReply(error);
  }
}

/** An error as plain data, for a message (an Error does not survive the trip). */
export function errorReply(error) {
  return {
    ok: false,
    code: error instanceof ApiError ? error.code : "failed",
    status: error instanceof ApiError ? error.status : 0,
    retryAfter: error instanceof ApiError ? error.retryAfter : null,
    reason: error instanceof ApiError ? error.reason : null,
    message: explain(error),
  };
}

async function send(base, path, init) {
  let res;
  try {
    res = await fetch(base + path, init);
  } catch {
    throw new ApiError(0, "network_error", `latchkey does not answer at ${base}.`);
  }
  let json = null;
  try {
    json = await res.json();
  } catch {
    // Not JSON: a proxy's error page, say. Reported below with the status.
  }
  if (!res.ok || !json || json.success !== true) {
    const retry = Number.parseInt(res.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(
      res.status,
      json?.code ?? "unexpected_answer",
      json?.error ?? `latchkey answered ${res.status}.`,
      Number.isFinite(retry) ? retry : null,
      json?.reason ?? null,
    );
  }
  return json;
}

/**
 * `GET /auth/csrf-token`. The token also lands in an HttpOnly cookie; state-changing calls send
 * it back in `X-CSRF-Token`, which a foreign page cannot do.
 */
export async function csrfToken(base) {
  base ??= await getBaseUrl();
  let res;
  try {
    res = await fetch(`${base}/auth/csrf-token`, { credentials: "include" });
  } catch {
    throw new ApiError(0, "network_error", `latchkey does not answer at ${base}.`);
  }
  const json = await res.json().catch(() => null);
  if (!res.ok || typeof json?.csrf_token !== "string") {
    throw new ApiError(res.status, json?.code ?? "csrf_failed", json?.error ?? "No CSRF token.");
  }
  return json.csrf_token;
}

/** `GET /auth/{provider}/login` (cookie mode): the provider's consent URL, to open in a new tab. */
export async function loginUrl(provider) {
  const { authUrl } = await request(`/auth/${encodeURIComponent(provider)}/login`, { csrf: true });
  return authUrl;
}

/** Why the last `currentUser()` found no live session: the 401's `reason`, or null. */
export let signedOutReason = null;

/** `GET /api/user/info`: the signed-in user, or null when there is no live session. */
export async function currentUser() {
  signedOutReason = null;
  try {
    return (await request("/api/user/info")).user;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signedOutReason = e.reason ?? null;
      return null;
    }
    throw e;
  }
}

/** `GET /api/sessions`: this user's live sessions (`current` marks this browser's). */
export async function listSessions() {
  return (await request("/api/sessions")).sessions;
}

/** `GET /api/user/events`: this user's recent security events, newest first. */
export async function recentEvents(limit = 5) {
  return (await request(`/api/user/events?limit=${limit}`)).events;
}

/** `POST /auth/logout`: ends this browser's session (in token mode the background then forgets the token). */
export async function signOut() {
  await request("/auth/logout", { method: "POST", csrf: true });
}

/** `DELETE /api/sessions`: ends every other session of this user; returns how many. */
export async function signOutEverywhereElse() {
  return (await request("/api/sessions", { method: "DELETE", csrf: true })).revoked;
}

/**
 * `POST /api/openai/extract-subtitles` with the frame as the multipart part `image`, and the
 * cookies (or the bearer token) and no other header. Called by the background only.
 */
export async function extractSubtitles(image) {
  const form = new FormData();
  form.append("image", image, "frame.png");
  return (await request("/api/openai/extract-subtitles", { method: "POST", body: form }))
    .subtitles;
}

/** A sentence for a person, for any error thrown above. */
export function explain(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  switch (error.code) {
    case "unauthenticated":
      return "You are signed out. Sign in from the latchkey button first.";
    case "quota_exceeded":
      return `Today's limit is reached.${error.retryAfter ? ` It resets in ${duration(error.retryAfter)}.` : ""}`;
    case "quota_busy":
      // Not the limit: the rest of today's quota is held by extractions still running.
      return `Your other extractions are still running; try again in ${duration(error.retryAfter ?? 30)}.`;
    case "origin_not_allowed":
      return "latchkey does not know this extension: add its origin to cors.allowed_origins, or use token mode (see the options page).";
    case "invalid_redirect_uri":
      return "latchkey does not know this extension's redirect URI: add it to extensions.redirect_uris (see the options page).";
    case "invalid_grant":
      return "The sign-in expired or was already used. Please sign in again.";
    case "provider_not_configured":
      return "This sign-in provider is not configured on the server.";
    default:
      return error.message;
  }
}

/** "7 h 12 min", "3 min", "40 s". */
export function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${Math.max(0, Math.round(seconds))} s`;
}
