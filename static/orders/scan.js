// Camera scan on the verification page: reads the QR code (or barcode) the customer shows, fills the
// code field and looks it up. Verifying stays a separate tap on the result card.
// The browser's own BarcodeDetector where it reads QR codes (Android, macOS, ChromeOS); elsewhere the
// vendored barcode-detector ponyfill (ZXing compiled to WebAssembly, static/vendor/), loaded on first use.
(function () {
  "use strict";
  const form = document.querySelector("[data-lookup]");
  const panel = document.querySelector("[data-scan-panel]");
  const button = document.querySelector("[data-scan]");
  if (!form || !panel || !button) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return; // no camera API: typing only
  const video = panel.querySelector("video");
  const status = panel.querySelector("[data-scan-status]");
  const input = form.querySelector("input[name=code]");
  const FORMATS = ["qr_code", "code_128", "code_39", "ean_13"];
  let stream = null;
  let running = false;

  button.hidden = false;

  async function nativeDetector() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      const supported = await window.BarcodeDetector.getSupportedFormats();
      if (!supported.includes("qr_code")) return null;
      return new window.BarcodeDetector({ formats: FORMATS.filter((f) => supported.includes(f)) });
    } catch (e) {
      return null;
    }
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("script"));
      document.head.appendChild(s);
    });
  }

  async function fallbackDetector() {
    if (!window.BarcodeDetectionAPI) await loadScript(panel.dataset.ponyfill);
    const api = window.BarcodeDetectionAPI;
    const wasm = panel.dataset.wasm;
    // Served from our own static files: no CDN (the ponyfill's default is jsDelivr).
    api.prepareZXingModule({
      overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
      fireImmediately: true,
    });
    return new api.BarcodeDetector({ formats: FORMATS });
  }

  // A QR code may hold the bare code or a link carrying it (?code=… or as the last path segment).
  function codeFrom(raw) {
    const text = (raw || "").trim();
    if (!/^https?:\/\//i.test(text)) return text;
    try {
      const url = new URL(text);
      const param = url.searchParams.get("code");
      if (param) return param.trim();
      const parts = url.pathname.split("/").filter(Boolean);
      return parts.length ? decodeURIComponent(parts[parts.length - 1]) : text;
    } catch (e) {
      return text;
    }
  }

  function say(text) {
    status.textContent = text;
  }

  function stop() {
    running = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }

  async function scanLoop(detector) {
    while (running) {
      if (video.readyState >= 2) {
        try {
          const found = await detector.detect(video);
          const code = found.length ? codeFrom(found[0].rawValue) : "";
          if (code) {
            input.value = code.slice(0, Number(input.maxLength) || 64);
            stop();
            form.requestSubmit(form.querySelector("button[value=lookup]"));
            return;
          }
        } catch (e) {
          // a frame the detector could not read: try the next one
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function start() {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    say(panel.dataset.starting);
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      say(panel.dataset.denied);
      return;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    let detector = await nativeDetector();
    panel.dataset.scanner = detector ? "native" : "zxing";
    try {
      detector = detector || (await fallbackDetector());
    } catch (e) {
      say(panel.dataset.unavailable);
      return;
    }
    say(panel.dataset.aim);
    running = true;
    scanLoop(detector);
  }

  button.addEventListener("click", () => (panel.hidden ? start() : stop()));
  panel.querySelector("[data-scan-cancel]").addEventListener("click", stop);
  window.addEventListener("pagehide", stop);
})();
