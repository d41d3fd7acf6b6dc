// The one place to point the extension at a latchkey server.
//
// DEFAULT_BASE_URL is what a fresh install talks to: `make run` serves latchkey there. For a
// deployment, change it here *and* replace "http://localhost/*" in manifest.json's
// host_permissions with your server's origin ("https://auth.example.com/*"): the extension may
// only send its cookies to hosts it has permission for. The options page can override the URL
// at run time (kept in chrome.storage.local), for a URL the manifest already covers.
//
// The server must list this extension's origin, `chrome-extension://<id>`, in
// cors.allowed_origins; the options page shows the exact line.

export const DEFAULT_BASE_URL = "http://localhost:8080";

/** Sign-in providers shown in the popup: latchkey's route name and the button's label. */
export const PROVIDERS = [
  { id: "google", label: "Sign in with Google" },
  { id: "github", label: "Sign in with GitHub" },
];

/** The latchkey base URL in use: the options page's override, else the default. No trailing slash. */
export async function getBaseUrl() {
  const { baseUrl } = await chrome.storage.local.get("baseUrl");
  return normalise(baseUrl || DEFAULT_BASE_URL);
}

/** Saves an override (an empty value goes back to the default). Throws on a malformed URL. */
export async function setBaseUrl(value) {
  const trimmed = (value || "").trim();
  if (!trimmed) {
    await chrome.storage.local.remove("baseUrl");
    return normalise(DEFAULT_BASE_URL);
  }
  const url = normalise(trimmed);
  await chrome.storage.local.set({ baseUrl: url });
  return url;
}

function normalise(value) {
  const url = new URL(value); // throws on anything that is not an absolute URL
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`${value} is not an http(s) URL`);
  }
  return (url.origin + url.pathname).replace(/\/+$/, "");
}
