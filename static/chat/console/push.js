// Web Push for the agent console: register the service worker (scope /console/) and
// subscribe this device. The server side is chat/push.py and chat/console_push_views.py.
//
//   import { enablePush } from "/static/chat/console/push.js";
//   const status = await enablePush({ publicKey, subscribeUrl: "/console/push/subscriptions" });
//
// Statuses: "subscribed", "denied" (permission refused or blocked), "unsupported" (no service
// worker / Push API: e.g. iOS Safari outside a home-screen app), "failed".

const SW_URL = "/console/sw.js";
const SCOPE = "/console/";

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

function base64UrlToBytes(value) {
  const padded = value.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (value.length % 4)) % 4);
  const raw = atob(padded);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function sameKey(buffer, publicKey) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  const b = base64UrlToBytes(publicKey);
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function activated(registration) {
  if (registration.active) return Promise.resolve(registration);
  const worker = registration.installing || registration.waiting;
  return new Promise((resolve, reject) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(registration);
      if (worker.state === "redundant") reject(new Error("service worker failed to install"));
    });
  });
}

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  const registration = await navigator.serviceWorker.register(SW_URL, { scope: SCOPE });
  return activated(registration);
}

async function send(url, method, body, csrfToken) {
  return fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken || cookie("csrftoken") },
    body: JSON.stringify(body),
  });
}

export async function enablePush({ publicKey, subscribeUrl, csrfToken }) {
  if (!pushSupported()) return "unsupported";
  let permission = Notification.permission;
  if (permission === "default") permission = await Notification.requestPermission();
  if (permission !== "granted") return "denied";
  try {
    const registration = await registerServiceWorker();
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options.applicationServerKey, publicKey)) {
      await subscription.unsubscribe(); // made with another server key (the key changed): start over
      subscription = null;
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) });
    }
    let response = await send(subscribeUrl, "POST", subscription.toJSON(), csrfToken);
    if (response.status === 409) {
      // The server keeps this browser's subscription for another account (never moves it):
      // this browser changed hands, so it takes a fresh subscription of its own.
      await subscription.unsubscribe();
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) });
      response = await send(subscribeUrl, "POST", subscription.toJSON(), csrfToken);
    }
    return response.ok ? "subscribed" : "failed";
  } catch (error) {
    return "failed";
  }
}

export async function disablePush({ subscribeUrl, csrfToken }) {
  if (!("serviceWorker" in navigator)) return "unsupported";
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  const subscription = registration && (await registration.pushManager.getSubscription());
  if (!subscription) return "unsubscribed";
  await send(subscribeUrl, "DELETE", { endpoint: subscription.endpoint }, csrfToken);
  await subscription.unsubscribe();
  return "unsubscribed";
}
