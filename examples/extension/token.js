// Token mode, in the background only: the PKCE sign-in and the session token's storage.
//
// The sign-in is OAuth 2.0 for native apps with PKCE between this extension and latchkey
// (docs/api.md, "Token mode"): the background draws a secret verifier, gives latchkey only its
// SHA-256 (the challenge), and gets back a one-time code through the sign-in window's address.
// The code alone is worthless: `POST /auth/token` wants the verifier too, which never left
// the background. The session token from that answer is kept here and nowhere else.

import { browserFamily, ext, sessionArea } from "./browser.js";

const TOKEN = "sessionToken";
const PENDING = "pendingSignIn"; // the flow a sign-in tab is on, should the worker restart

/**
 * Content scripts must not read the token. `storage.session` keeps them out by default; the
 * background says so explicitly where the browser has `setAccessLevel`, so that the default
 * can never be widened by accident. (`storage.local`, the fallback of a browser without
 * `storage.session`, is readable by content scripts: ours never reads it.)
 */
export async function restrictSessionStorage() {
  await ext.storage.session?.setAccessLevel?.({ accessLevel: "TRUSTED_CONTEXTS" }).catch(() => {});
}

/** The session token, or null when signed out. */
export async function loadToken() {
  return (await sessionArea.get(TOKEN))[TOKEN] ?? null;
}

export async function saveToken(token) {
  await sessionArea.set({ [TOKEN]: token });
}

/** Signed out: after sign-out, and after any 401 (the session ended on the server). */
export async function forgetToken() {
  await sessionArea.remove(TOKEN);
}

/** base64url without padding, as PKCE and latchkey want it. */
function base64url(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(byteCount) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/**
 * A new PKCE pair: the verifier is 64 random bytes in base64url (86 characters of
 * [A-Za-z0-9-_], inside RFC 7636's 43–128), the challenge the base64url of its SHA-256.
 */
export async function pkcePair() {
  const verifier = randomString(64);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(digest) };
}

/**
 * Where latchkey should send the code. `identity.launchWebAuthFlow` (Chromium, Firefox) opens
 * its own window and hands back the final address of any page under `getRedirectURL()`
 * (`https://<id>.chromiumapp.org/`, `https://<hash>.extensions.allizom.org/`). Safari has no
 * identity API: a normal tab then ends on latchkey's own page `/auth/complete`.
 *
 * `viaLatchkey`: Firefox's launchWebAuthFlow opens only a URL whose own `redirect_uri`
 * parameter is under getRedirectURL() ("redirect_uri not allowed" otherwise), and the
 * provider's URL names latchkey's callback there. So Firefox's window is opened on latchkey's
 * login URL with `response=redirect`, which names ours and answers 302 to the provider.
 */
export function redirectTarget(base) {
  if (typeof ext.identity?.launchWebAuthFlow === "function") {
    return { uri: ext.identity.getRedirectURL(), window: "identity", viaLatchkey: browserFamily() === "firefox" };
  }
  return { uri: `${base}/auth/complete`, window: "tab" };
}

/** Remembers the flow a sign-in tab is on, so that a restarted worker can still finish it. */
export async function rememberFlow(flow) {
  await sessionArea.set({ [PENDING]: flow });
}

/** Takes the remembered flow (it is used once). */
export async function takeFlow() {
  const flow = (await sessionArea.get(PENDING))[PENDING] ?? null;
  await sessionArea.remove(PENDING);
  return flow;
}

export async function peekFlow() {
  return (await sessionArea.get(PENDING))[PENDING] ?? null;
}

/**
 * Reads the end of a sign-in from the redirect URI's address: `{ code }` or `{ error }`.
 * A `state` other than ours means the address is not the answer to our request (another
 * flow, or a page trying to plant a code): it is refused like an error.
 */
export function readRedirect(address, expectedState) {
  const params = new URL(address).searchParams;
  if (params.get("state") !== expectedState) return { error: "invalid_state" };
  if (params.get("error")) return { error: params.get("error") };
  const code = params.get("code");
  return code ? { code } : { error: "missing_code" };
}

/** True when `address` is the redirect URI (same origin and path; the query is the answer). */
export function isRedirect(address, redirectUri) {
  try {
    const a = new URL(address);
    const r = new URL(redirectUri);
    return a.origin === r.origin && a.pathname === r.pathname;
  } catch {
    return false;
  }
}
