// The one place to point the extension at a latchkey server.
//
// DEFAULT_BASE_URL is what a fresh install talks to: `make run` serves latchkey there. For a
// deployment, change it here *and* replace "http://localhost/*" in manifest.json's
// host_permissions with your server's origin ("https://auth.example.com/*"): the extension may
// only send its cookies to hosts it has permission for. The options page can override the URL
// at run time (kept in ext.storage.local), for a URL the manifest already covers.
//
// How the extension holds its session (the options page can change it):
// - "cookie": latchkey's HttpOnly session cookie, which no script here can read. Works in
//   Chromium (Chrome, Edge, …), whose extension origin `chrome-extension://<id>` is the same on
//   every install and so can be listed in the server's cors.allowed_origins.
// - "token": a session token that the background keeps and sends as `Authorization: Bearer`.
//   Needed in Firefox and Safari: each install there has a random origin that no allowlist can
//   name (every POST would be refused with origin_not_allowed), and Safari sends no cookies
//   from an extension's background at all.

import { browserFamily, ext } from "./browser.js";

export const DEFAULT_BASE_URL = "http://localhost:8080";

/** Sign-in providers shown in the popup: latchkey's route name and the button's label. */
export const PROVIDERS = [
  { id: "google", label: "Sign in with Google" },
  { id: "github", label: "Sign in with GitHub" },
];

/** The latchkey base URL in use: the options page's override, else the default. No trailing slash. */
export async function getBaseUrl() {
  const { baseUrl } = await ext.storage.local.get("baseUrl");
  return normalise(baseUrl || DEFAULT_BASE_URL);
}

/** Saves an override (an empty value goes back to the default). Throws on a malformed URL. */
export async function setBaseUrl(value) {
  const trimmed = (value || "").trim();
  if (!trimmed) {
    await ext.storage.local.remove("baseUrl");
    return normalise(DEFAULT_BASE_URL);
  }
  const url = normalise(trimmed);
  await ext.storage.local.set({ baseUrl: url });
  return url;
}

/** Cookie mode where it works (Chromium), token mode where it must (Firefox, Safari). */
export function defaultMode() {
  return browserFamily() === "chromium" ? "cookie" : "token";
}

/** "cookie" or "token": the options page's choice, else this browser's default. */
export async function getMode() {
  const { mode } = await ext.storage.local.get("mode");
  return mode === "cookie" || mode === "token" ? mode : defaultMode();
}

/** Saves the mode ("" or anything else: back to this browser's default). */
export async function setMode(mode) {
  if (mode === "cookie" || mode === "token") await ext.storage.local.set({ mode });
  else await ext.storage.local.remove("mode");
  return getMode();
}

function normalise(value) {
  const url = new URL(value); // throws on anything that is not an absolute URL
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`${value} is not an http(s) URL`);
  }
  return (url.origin + url.pathname).replace(/\/+$/, "");
}
