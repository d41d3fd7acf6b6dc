// One name for the extension APIs in every browser. Firefox and Safari offer `browser.*`
// (promise-based); Chromium offers `chrome.*`, which in Manifest V3 returns promises too. So
// the rest of the extension writes `ext.runtime…` and works in all three.
//
// The content script cannot import modules; it repeats the one line below for itself.

export const ext = globalThis.browser ?? globalThis.chrome;

/**
 * Where the extension keeps what lasts only while the browser runs: the popup's notes about
 * the last sign-in and capture, and in token mode the session token. `storage.session` lives
 * in memory and, unlike `storage.local`, is out of content scripts' reach by default; a
 * browser without it (an old Safari) falls back to `storage.local`.
 */
export const sessionArea = ext.storage.session ?? ext.storage.local;

/** This extension's own origin: `chrome-extension://…`, `moz-extension://…`, `safari-web-extension://…`. */
export const ownOrigin = new URL(ext.runtime.getURL("")).origin;

/**
 * Which browser family this is, from the extension's URL scheme (no API needed, and it is
 * right in every context, the background included). Edge, Brave and Opera are "chromium".
 */
export function browserFamily() {
  if (ownOrigin.startsWith("moz-extension:")) return "firefox";
  if (ownOrigin.startsWith("safari-web-extension:")) return "safari";
  return "chromium";
}
