// Every call the extension makes to latchkey, as docs/api.md describes them. Used by the popup,
// the options page and the background worker; the content script never calls latchkey itself
// (its requests would carry the page's origin, which latchkey refuses).
//
// Every request sends the browser's cookies (`credentials: "include"`): the session lives in
// an HttpOnly cookie that no script here can read, and that is the point.

import { getBaseUrl } from "./config.js";

/** A refusal from latchkey, or no answer at all (status 0, code "network_error"). */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function request(path, { method = "GET", csrf = false, body } = {}) {
  const base = await getBaseUrl();
  const headers = {};
  if (csrf) headers["X-CSRF-Token"] = await csrfToken(base);
  let res;
  try {
    res = await fetch(base + path, { method, credentials: "include", headers, body });
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

/** `GET /auth/{provider}/login`: the provider's consent URL, to open in a new tab. */
export async function loginUrl(provider) {
  const { authUrl } = await request(`/auth/${encodeURIComponent(provider)}/login`, { csrf: true });
  return authUrl;
}

/** `GET /api/user/info`: the signed-in user, or null when there is no live session. */
export async function currentUser() {
  try {
    return (await request("/api/user/info")).user;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/** `GET /api/sessions`: this user's live sessions (`current` marks this browser's). */
export async function listSessions() {
  return (await request("/api/sessions")).sessions;
}

/** `POST /auth/logout`: ends this browser's session. */
export async function signOut() {
  await request("/auth/logout", { method: "POST", csrf: true });
}

/** `DELETE /api/sessions`: ends every other session of this user; returns how many. */
export async function signOutEverywhereElse() {
  return (await request("/api/sessions", { method: "DELETE", csrf: true })).revoked;
}

/**
 * `POST /api/openai/extract-subtitles` with the frame as the multipart part `image`, the
 * cookies and no other header, as the existing extension sends it.
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
    case "origin_not_allowed":
      return "latchkey does not know this extension: add its origin to cors.allowed_origins (see the options page).";
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
