// Options: the latchkey URL (kept in chrome.storage.local) and what the server must be told
// about this extension (its origin, for cors.allowed_origins).

import { DEFAULT_BASE_URL, getBaseUrl, setBaseUrl } from "./config.js";

const $ = (id) => document.getElementById(id);
const origin = `chrome-extension://${chrome.runtime.id}`;

$("extension-id").textContent = chrome.runtime.id;
$("cors-line").textContent = `LATCHKEY__CORS__ALLOWED_ORIGINS=${origin}`;
$("base-url").placeholder = DEFAULT_BASE_URL;

async function load() {
  const base = await getBaseUrl();
  $("base-url").value = base;
  await checkPermission(base);
}

// The extension can only reach (and send cookies to) hosts listed in manifest.json's
// host_permissions; say so rather than fail later with a network error.
async function checkPermission(base) {
  const pattern = `${new URL(base).origin}/*`;
  const covered = await chrome.permissions.contains({ origins: [pattern] });
  $("permission").hidden = covered;
  $("permission").textContent = covered
    ? ""
    : `manifest.json's host_permissions do not cover ${new URL(base).origin}: add "${pattern}" there and reload the extension.`;
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const saved = await setBaseUrl($("base-url").value);
    $("base-url").value = saved;
    $("saved").textContent = `Saved: ${saved}`;
    await checkPermission(saved);
  } catch (error) {
    $("saved").textContent = `Not saved: ${error.message}`;
  }
});

$("reset").addEventListener("click", async () => {
  const saved = await setBaseUrl("");
  $("base-url").value = saved;
  $("saved").textContent = `Saved: ${saved} (the default)`;
  await checkPermission(saved);
});

load();
