// 数据看板: the server renders the board (_board.html, only this member's scope). The worker tells
// board sockets `board.changed` at most every few seconds per workspace; the page then fetches its
// board again (one request in flight, one queued at most). Waits tick here, every second, from the
// times the server rendered, so a waiting customer's clock moves without any request.
import { ChatClient } from "../client.js";
import { fragment } from "./http.js";
import { refreshServiceAlerts } from "./service-alerts.js";

const config = JSON.parse(document.getElementById("board-config").textContent);
const root = document.getElementById("board");
const state = { loading: false, again: false, serverNow: 0, loadedAt: 0 };

function clock(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function remember() {
  const board = root.querySelector("[data-server-now]");
  state.serverNow = board ? Date.parse(board.dataset.serverNow) : Date.now();
  state.loadedAt = Date.now();
}

function tick() {
  const now = state.serverNow + (Date.now() - state.loadedAt);
  for (const el of root.querySelectorAll("[data-since]")) el.textContent = clock((now - Date.parse(el.dataset.since)) / 1000);
}

async function reload() {
  if (state.loading) {
    state.again = true;
    return;
  }
  state.loading = true;
  try {
    const r = await fetch("/console/board/?partial=1", { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (r.ok) {
      root.replaceChildren(fragment(await r.text()));
      remember();
      tick();
    }
  } catch { /* offline: the reconnect's hello fetches it again */ } finally {
    state.loading = false;
    if (state.again) {
      state.again = false;
      reload();
    }
  }
}

const scheme = location.protocol === "https:" ? "wss" : "ws";
let hellos = 0;
new ChatClient({
  wsUrl: `${scheme}://${location.host}/ws/agent/?workspace=${config.workspaceId}&board=1`,
  apiRoot: "/api/v1/",
  role: "agent",
  storageKey: `board:${config.workspaceId}:${config.userId}`,
  trackedOnly: true,
  onEvent: (frame) => {
    if (frame.type === "board.changed") reload();
    else if (frame.type === "alerts.changed") refreshServiceAlerts();
    else if (frame.type === "hello" && hellos++) {
      reload(); // a reconnect: whatever changed meanwhile
      refreshServiceAlerts();
    }
  },
  onStatus: (s) => {
    const el = document.getElementById("connection");
    if (!el) return;
    el.textContent = config.texts[s] || s;
    el.dataset.state = s;
  },
}).start();

remember();
setInterval(tick, 1000);
