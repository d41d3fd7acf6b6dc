// Added to the example extension's background in the Firefox browser tests only (lib/firefox.mjs
// copies the extension and lists this file first in background.scripts); never shipped.
//
// Firefox's WebDriver BiDi refuses to navigate to a moz-extension:// page ("Navigation to … is
// not allowed in this context"), so the test sends a tab to
// http://localhost:<port>/__open-extension-page?path=<page> and this listener turns that tab
// into the extension's own page, which the driver may then read and click in.
const api = globalThis.browser ?? globalThis.chrome;
api.tabs.onUpdated.addListener((tabId, change) => {
  if (!change.url) return;
  let url;
  try {
    url = new URL(change.url);
  } catch {
    return;
  }
  if (url.hostname !== "localhost" || url.pathname !== "/__open-extension-page") return;
  const page = url.searchParams.get("path") ?? "popup.html";
  api.tabs.update(tabId, { url: api.runtime.getURL(page) });
});
