/* Helpdesk chat widget loader: the one script a merchant adds to their pages.
 *   <script src="https://HOST/static/chat/widget/loader.js" data-inbox="PUBLIC_KEY" async></script>
 * It draws a launcher button and an iframe (our origin: isolated from the page's CSS and
 * scripts; styles are set through the CSSOM, so a strict CSP on the page does not block
 * them) and exposes window.Helpdesk (docs/sdk.md). No third-party requests. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.Helpdesk && window.Helpdesk.version) return;
  var settings = window.HelpdeskSettings || {};
  var inbox = script.getAttribute("data-inbox") || settings.inbox;
  var origin = new URL(script.src, location.href).origin;
  var lang = settings.lang || document.documentElement.lang || navigator.language || "";
  var listeners = {}, queue = [], ready = false, isOpen = false, unread = 0, frame, button, badge, caption;
  var side = settings.position === "left" ? "left" : "right";

  function css(el, styles) {
    for (var k in styles) el.style.setProperty(k, styles[k]);
    return el;
  }
  function emit(type, data) {
    (listeners[type] || []).slice().forEach(function (fn) {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }
  function post(message) {
    message.helpdesk = 1;
    if (ready) frame.contentWindow.postMessage(message, origin);
    else queue.push(message);
  }
  function page() {
    return { url: location.href.slice(0, 1000), title: document.title.slice(0, 200) };
  }
  /* The visitor's token and unsent messages, kept first-party for the frame (see widget.js). */
  var prefix = "helpdesk:" + inbox + ":";
  function stored() {
    var out = {};
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k.indexOf(prefix) === 0) out[k.slice(prefix.length)] = localStorage.getItem(k);
      }
    } catch (e) { /* storage disabled: the visitor is new on every visit */ }
    return out;
  }
  function keep(key, value) {
    try {
      if (value === null) localStorage.removeItem(prefix + key);
      else localStorage.setItem(prefix + key, String(value).slice(0, 200000));
    } catch (e) { /* full or disabled */ }
  }
  /* The look the frame last sent, kept per inbox on this site: on the next page the launcher shows
     at once in the merchant's look instead of waiting for the frame (up to 3 s on a slow phone).
     Kept apart from the frame's keys above (not sent to it). A look changed since shows when the
     frame is ready. */
  var lookKey = "helpdesk-look:" + inbox;
  function keptLook() {
    try {
      var look = JSON.parse(localStorage.getItem(lookKey) || "null");
      return look && typeof look === "object" ? look : null;
    } catch (e) { return null; }
  }
  function keepLook(look) {
    try {
      if (look && typeof look === "object") localStorage.setItem(lookKey, JSON.stringify(look));
      else localStorage.removeItem(lookKey);
    } catch (e) { /* full or disabled */ }
  }
  function small() {
    return window.innerWidth < 480;
  }
  function layout() {
    var edge = {};
    edge[side] = "20px";
    css(frame, small()
      ? { inset: "0", width: "100%", height: "100%", "border-radius": "0", bottom: "0", right: "0" }
      : Object.assign({ inset: "auto", bottom: "88px", width: "380px", height: "min(640px, calc(100vh - 110px))", "border-radius": "12px" }, edge));
  }
  /* The inbox's look from the admin's widget editor, sent by the frame when it is ready: colour,
     side, a caption beside the icon. HelpdeskSettings.color / position on the page still win. */
  function applyLook(look) {
    if (look && look.color && !settings.color) css(button, { background: look.color, color: look.text || "#fff" });
    if (look && !settings.position && (look.position === "left" || look.position === "right")) side = look.position;
    css(button, side === "left" ? { left: "20px", right: "auto" } : { right: "20px", left: "auto" });
    if (look && look.launcherText) {
      caption.textContent = String(look.launcherText).slice(0, 12);
      css(caption, { display: "inline" });
      css(button, { width: "auto", "border-radius": "28px", padding: "0 18px 0 14px", gap: "8px" });
    } else if (look) {  // no caption (any more): the round button
      css(caption, { display: "none" });
      css(button, { width: "56px", "border-radius": "50%", padding: "0", gap: "0" });
    }
    if (isOpen) layout();
    css(button, { visibility: "visible" });
  }
  function setUnread(n) {
    unread = n;
    badge.textContent = n > 99 ? "99+" : String(n);
    css(badge, { display: n > 0 ? "flex" : "none" });
    button.setAttribute("aria-label", label() + (n ? " (" + n + ")" : ""));
    emit("unread", n);
  }
  function label() {
    return /^zh/i.test(lang) ? (/hant|tw|hk/i.test(lang) ? "與我們聊天" : "和我们聊天") : "Chat with us";
  }
  function open() {
    isOpen = true;
    css(frame, { display: "block" });
    layout();
    if (small()) css(button, { display: "none" });
    post({ type: "open" });
    emit("open");
  }
  function close() {
    isOpen = false;
    css(frame, { display: "none" });
    css(button, { display: "flex" });
    post({ type: "close" });
    emit("close");
  }

  function build() {
    button = css(document.createElement("button"), {
      position: "fixed", right: "20px", bottom: "20px", width: "56px", height: "56px", "border-radius": "50%",
      border: "0", background: settings.color || "#0b5cad", color: "#fff", cursor: "pointer", "z-index": "2147483000",
      "box-shadow": "0 4px 14px rgba(0,0,0,.25)", display: "flex", "align-items": "center", "justify-content": "center", padding: "0",
      visibility: "hidden",  // until the frame says how the merchant wants it to look (or 3 s pass)
    });
    button.type = "button";
    button.setAttribute("aria-label", label());
    button.setAttribute("data-helpdesk-launcher", "");
    var svgNs = "http://www.w3.org/2000/svg";
    var icon = document.createElementNS(svgNs, "svg");
    icon.setAttribute("width", "26");
    icon.setAttribute("height", "26");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    path.setAttribute("fill", "currentColor");
    icon.appendChild(path);
    button.appendChild(icon);
    caption = css(document.createElement("span"), { display: "none", font: "600 15px/1 system-ui, sans-serif", "white-space": "nowrap" });
    button.appendChild(caption);
    badge = css(document.createElement("span"), {
      position: "absolute", top: "-4px", right: "-4px", "min-width": "20px", height: "20px", padding: "0 5px",
      "border-radius": "10px", background: "#b42318", color: "#fff", "font": "600 12px/20px system-ui, sans-serif",
      display: "none", "align-items": "center", "justify-content": "center",
    });
    badge.setAttribute("data-helpdesk-unread", "");
    badge.setAttribute("aria-hidden", "true");
    button.appendChild(badge);
    button.addEventListener("click", function () { isOpen ? close() : open(); });

    frame = css(document.createElement("iframe"), {
      position: "fixed", border: "0", display: "none", "z-index": "2147483001", background: "#fff",
      "box-shadow": "0 8px 30px rgba(0,0,0,.25)", "color-scheme": "normal",
    });
    frame.title = label();
    frame.setAttribute("data-helpdesk-frame", "");
    frame.src = origin + "/widget/frame/?inbox=" + encodeURIComponent(inbox) + "&lang=" + encodeURIComponent(lang);
    document.body.appendChild(frame);
    document.body.appendChild(button);
    var kept = keptLook();
    applyLook(kept);  // visible at once with the look an earlier page was sent
    if (!kept) {  // first page on this site: wait for the frame's look (or 3 s)
      css(button, { visibility: "hidden" });
      setTimeout(function () { css(button, { visibility: "visible" }); }, 3000);
    }
    addEventListener("resize", function () { if (isOpen) layout(); });
    addEventListener("popstate", function () { post({ type: "page", page: page() }); });
    addEventListener("hashchange", function () { post({ type: "page", page: page() }); });
  }

  addEventListener("message", function (e) {
    if (e.origin !== origin || !frame || e.source !== frame.contentWindow || !e.data || e.data.helpdesk !== 1) return;
    var d = e.data;
    if (d.type === "ready") {
      ready = true;
      applyLook(d.appearance || null);
      keepLook(d.appearance);
      frame.contentWindow.postMessage({ helpdesk: 1, type: "init", identity: settings.identity || null, page: page(), open: isOpen, store: stored() }, origin);
      queue.splice(0).forEach(function (m) { frame.contentWindow.postMessage(m, origin); });
      emit("ready");
    } else if (d.type === "unread") setUnread(d.count | 0);
    else if (d.type === "message") emit("message", d.message);
    else if (d.type === "close") close();
    else if (d.type === "store" && typeof d.key === "string") keep(d.key, d.value);
    else if (d.type === "open") open();
  });

  window.Helpdesk = {
    version: 1,
    open: open,
    close: close,
    toggle: function () { isOpen ? close() : open(); },
    /* identity: { userId, userHash (HMAC-SHA256 of userId with the inbox secret, computed on your server), attributes: {name, level, tags, ...} } */
    identify: function (identity) { settings.identity = identity; post({ type: "identify", identity: identity }); },
    page: function (url, title) { post({ type: "page", page: url ? { url: String(url), title: String(title || "") } : page() }); },
    send: function (text) { post({ type: "send", text: String(text) }); },
    on: function (type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    off: function (type, fn) { listeners[type] = (listeners[type] || []).filter(function (f) { return f !== fn; }); },
    unreadCount: function () { return unread; },
  };
  if (document.body) build();
  else document.addEventListener("DOMContentLoaded", build);
})();
