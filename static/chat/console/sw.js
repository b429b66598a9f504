/* Service worker of the agent console, scope /console/. Served by /console/sw.js (not from
   /static/, so that it may control /console/), which prepends
   self.CONSOLE_SW_CONFIG = {icon, shell, version}.

   - push: show the notification, unless a tab of this site is visible or focused: that tab
     shows the chat itself, so it only gets a message ({type: "push", payload}).
   - notificationclick: focus a console tab and take it to the conversation, else open one.
   - fetch: network first. Only the console shell (styles, icons, manifest, the /console/
     start page) is kept for offline starts; API, WebSocket, push and media responses never are. */

const CONFIG = self.CONSOLE_SW_CONFIG || { icon: "/static/chat/console/icon-192.png", shell: [], version: "dev" };
const CACHE_PREFIX = "console-shell-";
const CACHE = CACHE_PREFIX + CONFIG.version;
const SCOPE_PATH = new URL(self.registration.scope).pathname; // "/console/"
const NEVER_CACHED = ["/api/", "/ws/", "/media/", "/console/push/", "/console/sw.js", "/accounts/", "/admin/"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(CONFIG.shell))
      .catch(() => undefined) // a missing asset must not stop the worker: push matters more
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function cacheable(request, url) {
  if (request.method !== "GET" || url.origin !== self.location.origin) return false;
  if (NEVER_CACHED.some((prefix) => url.pathname.startsWith(prefix))) return false;
  if (request.mode === "navigate") return url.pathname === SCOPE_PATH; // the start page only
  return CONFIG.shell.includes(url.pathname);
}

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected && response.type === "basic") {
      await cache.put(request, response.clone());
    } else if (request.mode === "navigate" && response.redirected) {
      await cache.delete(request); // logged out: forget the page
    }
    return response;
  } catch (error) {
    const cached = (await cache.match(request)) || (request.mode === "navigate" ? await cache.match(SCOPE_PATH) : undefined);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (!cacheable(event.request, url)) {
    if (event.request.mode === "navigate" && url.origin === self.location.origin && url.pathname.startsWith(SCOPE_PATH)
        && !NEVER_CACHED.some((prefix) => url.pathname.startsWith(prefix))) {
      // Other console pages: network, and offline the cached start page.
      event.respondWith(fetch(event.request).catch(() => caches.open(CACHE).then((c) => c.match(SCOPE_PATH)).then((r) => r || Response.error())));
    }
    return; // everything else: the browser's own handling, never cached here
  }
  event.respondWith(networkFirst(event.request, url));
});

async function windowClients() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true });
}

function sameOriginUrl(value) {
  try {
    const url = new URL(value || SCOPE_PATH, self.location.origin);
    return url.origin === self.location.origin ? url.href : new URL(SCOPE_PATH, self.location.origin).href;
  } catch (error) {
    return new URL(SCOPE_PATH, self.location.origin).href;
  }
}

async function onPush(data) {
  const shown = (await windowClients()).filter((c) => c.focused || c.visibilityState === "visible");
  if (shown.length && data.type !== "test") {
    shown.forEach((client) => client.postMessage({ type: "push", payload: data }));
    return;
  }
  const tag = data.tag || undefined;
  await self.registration.showNotification(data.title || "", {
    body: data.body || "",
    tag,
    renotify: Boolean(tag),
    icon: CONFIG.icon,
    badge: CONFIG.icon,
    timestamp: Date.now(),
    data: { url: sameOriginUrl(data.url), conversation_id: data.conversation_id || null },
  });
}

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (error) {
      data = { body: event.data.text() };
    }
  }
  event.waitUntil(onPush(data));
});

async function onNotificationClick(notification) {
  const target = sameOriginUrl(notification.data && notification.data.url);
  const consoles = (await windowClients()).filter((c) => new URL(c.url).pathname.startsWith(SCOPE_PATH));
  const client = consoles.find((c) => c.focused) || consoles.find((c) => c.visibilityState === "visible") || consoles[0];
  if (!client) {
    await self.clients.openWindow(target);
    return;
  }
  const focused = (await client.focus()) || client;
  if (focused.url === target) return;
  try {
    await focused.navigate(target); // works for tabs this worker controls
  } catch (error) {
    focused.postMessage({ type: "navigate", url: target }); // an uncontrolled tab navigates itself
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(onNotificationClick(event.notification));
});
