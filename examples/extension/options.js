// Options: the latchkey URL and the session mode (kept in storage.local), and what the server
// must be told about this extension: its origin for cors.allowed_origins (cookie mode), or its
// redirect URI for extensions.redirect_uris (token mode).

import { ext, ownOrigin } from "./browser.js";
import { DEFAULT_BASE_URL, defaultMode, getBaseUrl, getMode, setBaseUrl, setMode } from "./config.js";
import { redirectTarget } from "./token.js";

const $ = (id) => document.getElementById(id);

$("extension-id").textContent = ext.runtime.id;
$("cors-line").textContent = `LATCHKEY__CORS__ALLOWED_ORIGINS=${ownOrigin}`;
$("base-url").placeholder = DEFAULT_BASE_URL;
$("mode").options[0].textContent = `This browser's default (${defaultMode()} mode)`;

async function load() {
  const base = await getBaseUrl();
  $("base-url").value = base;
  const { mode } = await ext.storage.local.get("mode");
  $("mode").value = mode ?? "";
  await showSetup(base);
  await checkPermission(base);
}

/** The server-side line this mode needs, for this browser. */
async function showSetup(base) {
  const mode = await getMode();
  $("cookie-setup").hidden = mode !== "cookie";
  $("token-setup").hidden = mode !== "token";
  const target = redirectTarget(base);
  $("complete-uri").textContent = `${base}/auth/complete`;
  $("redirect-line").textContent =
    target.window === "identity"
      ? `LATCHKEY__EXTENSIONS__REDIRECT_URIS=${target.uri}`
      : `(none: the sign-in ends on ${target.uri}, always allowed)`;
}

// The extension can only reach (and send cookies to) hosts its manifest's host_permissions
// cover, and Firefox lets the user withhold them: say so rather than fail later with a
// network error, and offer to ask for it.
async function checkPermission(base) {
  // A match pattern names no port (Firefox finds none granted for "http://localhost:8080/*").
  const { protocol, hostname } = new URL(base);
  const pattern = `${protocol}//${hostname}/*`;
  const covered = await ext.permissions.contains({ origins: [pattern] });
  $("permission").hidden = covered;
  $("grant").hidden = covered;
  $("grant").dataset.pattern = pattern;
  $("permission").textContent = covered
    ? ""
    : `This extension may not reach ${new URL(base).origin}: allow it below, or add "${pattern}" to manifest.json's host_permissions and reload the extension.`;
}

$("grant").addEventListener("click", async () => {
  // Must run in the click (a user gesture); a pattern outside the manifest is refused.
  await ext.permissions.request({ origins: [$("grant").dataset.pattern] }).catch(() => false);
  await checkPermission(await getBaseUrl());
});

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const saved = await setBaseUrl($("base-url").value);
    $("base-url").value = saved;
    $("saved").textContent = `Saved: ${saved}`;
    await showSetup(saved);
    await checkPermission(saved);
  } catch (error) {
    $("saved").textContent = `Not saved: ${error.message}`;
  }
});

$("reset").addEventListener("click", async () => {
  const saved = await setBaseUrl("");
  $("base-url").value = saved;
  $("saved").textContent = `Saved: ${saved} (the default)`;
  await showSetup(saved);
  await checkPermission(saved);
});

$("mode").addEventListener("change", async () => {
  const mode = await setMode($("mode").value);
  $("mode-saved").textContent = `Saved: ${mode} mode`;
  await showSetup(await getBaseUrl());
});

load();
