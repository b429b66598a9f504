// 预警: the banner pinned under the top bar while a group's service level is breached. The server
// renders it (only the breaches this member may see); the socket's alerts.changed says when to
// fetch it again.
import { fragment } from "./http.js";

let inFlight = null;

export function refreshServiceAlerts() {
  inFlight ??= (async () => {
    try {
      const r = await fetch("/console/board/alerts/", { credentials: "same-origin", headers: { Accept: "text/html" } });
      const box = document.getElementById("service-alerts");
      if (r.ok && box) box.replaceWith(fragment(await r.text()));
    } catch { /* offline: the next alerts.changed or reconnect fetches it */ } finally {
      inFlight = null;
    }
  })();
  return inFlight;
}
