// The content script, on the video sites listed in manifest.json. On Alt+Shift+S it asks the
// background worker to capture the visible tab and read its subtitle through latchkey, then
// puts `{ "subtitles": …, "url": …, "time": … }` on the clipboard (`time`: the video's
// position in seconds). It never talks to latchkey itself: its requests would carry this
// page's origin, which latchkey refuses.
//
// The shortcut reaches this script in two ways: as the extension command declared in
// manifest.json (the browser handles the key, grants the activeTab permission that capturing needs,
// and the worker forwards it here), or, when the command is unassigned, as a plain key press
// on the page (capturing then works once the latchkey button was clicked on this tab).

(() => {
  // Firefox and Safari name the extension APIs `browser`, Chromium `chrome` (see browser.js).
  const ext = globalThis.browser ?? globalThis.chrome;
  const CAPTURE = "latchkey:capture";
  const SHORTCUT = "latchkey:shortcut";
  let busy = false;

  document.addEventListener(
    "keydown",
    (event) => {
      if (!(event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey)) return;
      if (event.code !== "KeyS" || event.repeat) return;
      if (!findVideo()) return; // not a video page: leave the key to the page
      event.preventDefault();
      event.stopPropagation();
      run();
    },
    true,
  );

  ext.runtime.onMessage.addListener((message) => {
    if (message?.type === SHORTCUT) run();
  });

  async function run() {
    if (busy) return;
    const video = findVideo();
    if (!video) {
      toast("latchkey: no video on this page.", "error");
      return;
    }
    busy = true;
    try {
      const url = location.href;
      const time = Math.round(video.currentTime * 1000) / 1000;
      removeToast(); // so that it is not in the picture
      await nextFrame();
      const reply = await ext.runtime.sendMessage({ type: CAPTURE });
      if (!reply?.ok) {
        toast(`latchkey: ${reply?.message ?? "the capture failed."}`, "error", reply?.code);
        return;
      }
      const text = JSON.stringify({ subtitles: reply.subtitles, url, time });
      await copy(text);
      toast(reply.subtitles ? `Copied: ${reply.subtitles}` : "Copied (no subtitle in view).", "ok");
    } catch (error) {
      toast(`latchkey: ${error?.message ?? error}`, "error");
    } finally {
      busy = false;
    }
  }

  /** The playing video, else the largest one on screen. */
  function findVideo() {
    const videos = [...document.querySelectorAll("video")].filter((v) => {
      const r = v.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    });
    const playing = videos.find((v) => !v.paused && !v.ended);
    if (playing) return playing;
    const area = (v) => v.getBoundingClientRect().width * v.getBoundingClientRect().height;
    return videos.sort((a, b) => area(b) - area(a))[0] ?? null;
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // The async API wants a focused document; the old way works without.
      const area = document.createElement("textarea");
      area.value = text;
      area.style.cssText = "position:fixed;top:-100px;opacity:0";
      document.documentElement.append(area);
      area.select();
      const done = document.execCommand("copy");
      area.remove();
      if (!done) throw new Error("the clipboard refused the text.");
    }
  }

  function nextFrame() {
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  }

  // A small notice in the page's corner, in a shadow root so the page's styles cannot reach it.
  let host = null;
  function toast(text, kind, code = "") {
    removeToast();
    host = document.createElement("latchkey-toast");
    const root = host.attachShadow({ mode: "open" });
    const box = document.createElement("div");
    box.setAttribute("role", "status");
    box.dataset.kind = kind;
    box.dataset.code = code;
    box.textContent = text;
    const style = document.createElement("style");
    style.textContent = `div{position:fixed;z-index:2147483647;right:16px;bottom:16px;max-width:360px;
      padding:10px 14px;border-radius:8px;font:14px/1.4 system-ui,sans-serif;color:#fff;
      background:#1d2330;box-shadow:0 4px 16px rgba(0,0,0,.3)}
      div[data-kind=error]{background:#a3261b}`;
    root.append(style, box);
    document.documentElement.append(host);
    const mine = host;
    setTimeout(() => mine.isConnected && mine.remove(), 6000);
  }

  function removeToast() {
    host?.remove();
    host = null;
  }
})();
