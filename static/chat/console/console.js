// The agent console: lists that update live, a conversation pane with history and live
// messages, the customer panel. The server renders every row, pane and message (the same
// partials as the first page); this module only decides when to fetch and where to put them.
// The WebSocket (ChatClient) signals changes and carries sends with an outbox, so nothing
// typed is lost on a network drop; the database stays the truth (messages are fetched by seq).
import { beep } from "../beep.js";
import { ChatClient } from "../client.js";
import { fragment, request } from "./http.js";
import { initStatusSwitch, showStatus } from "./status.js";
import { initComposer } from "./composer.js";
import { registerServiceWorker } from "./push.js";
import { deliveryChanged, retryOutbound } from "./channels.js";
import { applyReceipts, resetReceipts } from "./receipts.js";
import { refreshServiceAlerts } from "./service-alerts.js";

const texts = JSON.parse(document.getElementById("console-texts").textContent);
const config = JSON.parse(document.getElementById("console-config").textContent);
const $ = (sel, root = document) => root.querySelector(sel);
const baseTitle = document.title;

const state = { open: null, lastRendered: 0, pulling: false, pullAgain: false, unseen: 0, rowTimers: new Map(), hellos: 0 };

const scheme = location.protocol === "https:" ? "wss" : "ws";
const client = new ChatClient({
  wsUrl: `${scheme}://${location.host}/ws/agent/?workspace=${config.workspaceId}`,
  apiRoot: "/api/v1/",
  role: "agent",
  storageKey: `console:${config.workspaceId}:${config.userId}`,
  csrfToken: document.cookie.match(/csrftoken=([^;]+)/)?.[1],
  trackedOnly: true,
  onEvent: handleEvent,
  onStatus: (s) => {
    const el = $("#connection");
    el.textContent = texts[s] || s;
    el.dataset.state = s;
  },
});
client.lastSeq = new Map(); // the rendered page is the truth; only the outbox survives reloads

// --- panes (one at a time on a phone) ------------------------------------------------------
function showPane(name) {
  document.body.dataset.pane = name;
}
document.addEventListener("click", (e) => {
  const b = e.target.closest("[data-show-pane]");
  if (b) showPane(b.dataset.showPane);
});

// --- lists -------------------------------------------------------------------------------
const listWrap = $("#conversation-list-wrap");
const listQuery = () => $("#conversation-list").dataset.query;

async function reloadList(query = listQuery()) {
  const { html } = await request("GET", `/console/list/?${query}`, undefined, { html: true });
  listWrap.replaceChildren(fragment(html));
  afterListChange();
}

function afterListChange() {
  const list = $("#conversation-list");
  const counts = JSON.parse(list.dataset.counts || "{}");
  setCounts(counts);
  for (const li of list.querySelectorAll("[data-conversation]")) li.classList.toggle("row--selected", Number(li.dataset.conversation) === state.open);
  const view = new URLSearchParams(list.dataset.query).get("view") || "mine";
  for (const tab of document.querySelectorAll(".list-tab")) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
}

function setCounts(counts) {
  for (const [key, n] of Object.entries(counts)) {
    const el = document.querySelector(`[data-count="${key}"]`);
    if (el) el.textContent = n;
  }
}

document.querySelector(".list-tabs").addEventListener("click", (e) => {
  const tab = e.target.closest(".list-tab");
  if (!tab) return;
  e.preventDefault();
  $("#list-filters [name=view]").value = tab.dataset.view;
  $("#filter-group").value = "";
  reloadList(filterQuery());
});

function filterQuery() {
  const form = $("#list-filters");
  const group = form.elements.group.value;
  const params = new URLSearchParams();
  params.set("view", group ? `group:${group}` : form.elements.view.value);
  for (const name of ["inbox", "state", "tag"]) if (form.elements[name].value) params.set(name, form.elements[name].value);
  return params.toString();
}
$("#list-filters").addEventListener("change", () => reloadList(filterQuery()));
$("#list-filters").addEventListener("submit", (e) => e.preventDefault());

listWrap.addEventListener("click", async (e) => {
  const more = e.target.closest("[data-more]");
  if (more) {
    const { html } = await request("GET", `/console/list/?${more.dataset.more}`, undefined, { html: true });
    const page = fragment(html);
    $("#conversation-list").append(...page.querySelectorAll("#conversation-list > [data-conversation]"));
    more.replaceWith(...page.querySelectorAll(".load-more"));
    return;
  }
  const link = e.target.closest(".row__link");
  if (link && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    openConversation(Number(link.closest("[data-conversation]").dataset.conversation));
  }
});

// A row changed: fetch it as the list renders it (coalesced per conversation).
function refreshRow(id) {
  clearTimeout(state.rowTimers.get(id));
  state.rowTimers.set(id, setTimeout(async () => {
    state.rowTimers.delete(id);
    const url = `/console/rows/${id}/?${listQuery()}`;
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!r.ok && r.status !== 204) return;
    const list = $("#conversation-list");
    const old = list.querySelector(`[data-conversation="${id}"]`);
    if (r.headers.get("X-Counts")) setCounts(JSON.parse(r.headers.get("X-Counts")));
    if (r.status === 204) return old?.remove();
    const li = fragment(await r.text()).firstElementChild;
    li.classList.toggle("row--selected", id === state.open);
    if (old && old.dataset.stamp === li.dataset.stamp) return old.replaceWith(li);
    old?.remove();
    // Newest activity first: insert before the first row that is older.
    const next = [...list.querySelectorAll("[data-conversation]")].find((row) => row.dataset.stamp < li.dataset.stamp);
    list.insertBefore(li, next || list.querySelector(".load-more") || null);
    list.querySelector("[data-empty]")?.remove();
  }, 150));
}

// --- the open conversation ------------------------------------------------------------------
const messagesEl = () => $("#messages");

async function openConversation(id, { push = true } = {}) {
  const { html } = await request("GET", `/console/c/${id}/pane/`, undefined, { html: true });
  const panes = fragment(html);
  if (state.open && state.open !== id) client.untrack(state.open);
  $("#conversation-pane").replaceChildren(panes.querySelector("#pane-conversation").content);
  $("#customer-pane").replaceChildren(panes.querySelector("#pane-customer").content);
  if (push) history.pushState({ id }, "", `/console/c/${id}/?${listQuery()}`);
  mountConversation();
  showPane("conversation");
  afterListChange();
}

function mountConversation() {
  const root = $(".conversation");
  if (!root) return;
  if (state.open !== Number(root.dataset.conversation)) resetReceipts();
  state.open = Number(root.dataset.conversation);
  const rendered = [...messagesEl().querySelectorAll("[data-seq]")].map((li) => Number(li.dataset.seq));
  state.lastRendered = Math.max(0, ...rendered);
  client.lastSeq.set(state.open, state.lastRendered);
  client.resume(state.open);
  for (const item of client.outbox) if (item.conversation_id === state.open) showPending(item);
  const form = $("#composer");
  if (form) initComposer(form, { client, conversationId: state.open, customerName: root.dataset.customerName, agentName: config.userName, texts });
  scrollToEnd(true);
  markRead();
}

addEventListener("popstate", () => {
  const m = location.pathname.match(/\/console\/c\/(\d+)\//);
  if (m) openConversation(Number(m[1]), { push: false });
  else showPane("list");
});

function scrollToEnd(force = false) {
  const el = messagesEl();
  if (!el) return;
  if (force || el.scrollHeight - el.scrollTop - el.clientHeight < 160) el.scrollTop = el.scrollHeight;
}

// Render what the database has after the last rendered seq (one fetch at a time).
// Messages whose delivery state changed before their bubble was rendered (message ids).
const staleDelivery = new Set();

async function pull() {
  if (!state.open) return;
  if (state.pulling) return void (state.pullAgain = true);
  state.pulling = true;
  const id = state.open;
  try {
    const { html } = await request("GET", `/console/c/${id}/messages/?after_seq=${state.lastRendered}`, undefined, { html: true });
    if (id !== state.open) return;
    for (const li of fragment(html).children) {
      const seq = Number(li.dataset.seq);
      if (seq <= state.lastRendered) continue;
      if (li.dataset.clientId) messagesEl().querySelector(`.msg--pending[data-client-id="${CSS.escape(li.dataset.clientId)}"]`)?.remove();
      const pendingFirst = messagesEl().querySelector(".msg--pending");
      messagesEl().insertBefore(li, pendingFirst);
      state.lastRendered = seq;
      if (staleDelivery.delete(Number(li.dataset.messageId))) rerenderMessage(seq);
    }
    applyReceipts(messagesEl(), texts);
    scrollToEnd();
    markRead();
  } catch { /* offline: the next hello pulls again */ }
  finally {
    state.pulling = false;
    if (state.pullAgain) {
      state.pullAgain = false;
      pull();
    }
  }
}

async function rerenderMessage(seq) {
  const { html } = await request("GET", `/console/c/${state.open}/messages/?after_seq=${seq - 1}&limit=1`, undefined, { html: true });
  const li = fragment(html).firstElementChild;
  const old = messagesEl()?.querySelector(`[data-seq="${seq}"]`);
  if (li && old) old.replaceWith(li);
  applyReceipts(messagesEl(), texts);
}

function showPending(item) {
  if (messagesEl().querySelector(`[data-client-id="${CSS.escape(item.client_msg_id)}"]`)) return;
  const li = document.createElement("li");
  li.className = `msg msg--agent msg--mine msg--pending${item.is_private ? " msg--note" : ""}`;
  li.dataset.clientId = item.client_msg_id;
  const body = document.createElement("div");
  body.className = "msg__body";
  const p = document.createElement("p");
  p.textContent = item.body || (item.attachments?.[0]?.name ?? "");
  body.append(p);
  const status = document.createElement("div");
  status.className = "msg__status";
  status.textContent = texts.sending;
  li.append(body, status);
  messagesEl().append(li);
  scrollToEnd(true);
}

// Refusals the agent can act on later (WeChat's reply window or limit): the text goes back into an
// empty composer as a draft, besides staying in the failed bubble.
const KEEP_AS_DRAFT = new Set(["reply_window_closed", "reply_limit_reached"]);

function markFailed(clientMsgId, message, code) {
  const li = messagesEl()?.querySelector(`.msg--pending[data-client-id="${CSS.escape(clientMsgId)}"]`);
  if (!li) return;
  li.classList.add("msg--failed");
  li.querySelector(".msg__status").textContent = `${texts.failed}: ${message}`;
  const input = $("#composer textarea");
  if (KEEP_AS_DRAFT.has(code) && input && !input.value) input.value = li.querySelector(".msg__body p")?.textContent ?? "";
}

let readTimer;
function markRead() {
  if (!state.open || document.hidden) return;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const id = state.open;
    client.call({ type: "read", conversation_id: id, seq: state.lastRendered }).then(() => refreshRow(id), () => {});
  }, 300);
}

// Older messages: the "earlier" marker, or scrolling to the top.
async function loadOlder() {
  const marker = messagesEl()?.querySelector("[data-older]");
  if (!marker || marker.dataset.loading) return;
  marker.dataset.loading = "1";
  const { html, headers } = await request("GET", `/console/c/${state.open}/history/?before_seq=${marker.dataset.older}`, undefined, { html: true });
  const el = messagesEl();
  const before = el.scrollHeight;
  const page = fragment(html);
  const first = page.firstElementChild;
  marker.after(page);
  if (headers.get("X-Has-More") === "1" && first) {
    marker.dataset.older = first.dataset.seq;
    delete marker.dataset.loading;
  } else marker.remove();
  el.scrollTop += el.scrollHeight - before;
}

document.addEventListener("scroll", (e) => {
  if (e.target === messagesEl() && e.target.scrollTop < 40) loadOlder();
}, true);

// --- actions in the conversation pane ----------------------------------------------------------
document.addEventListener("click", async (e) => {
  const el = e.target.closest("[data-action]");
  if (!el || !state.open) return;
  const action = el.dataset.action;
  try {
    if (action === "older") await loadOlder();
    else if (action === "claim") {
      await client.call({ type: "claim", conversation_id: state.open });
      await refreshHeader();
    } else if (action === "state") {
      await request("POST", `/console/c/${state.open}/state/`, { state: el.dataset.state });
      await refreshHeader();
    } else if (action === "open-transfer") {
      await refreshHeader(); // colleagues' status and load as they are now, not as when the chat was opened
      $("#transfer-dialog")?.showModal();
    }
    else if (action === "open-snooze") $("#snooze-dialog").showModal();
    else if (action === "open-wrapup") openWrapUp(el.dataset.state);
    else if (action === "close-dialog") el.closest("dialog").close();
    else if (action === "recall") {
      await client.call({ type: "recall", message_id: Number(el.closest("[data-message-id]").dataset.messageId) });
    } else if (action === "retry-outbound") {
      await retryOutbound(el);
    } else if (action === "remove-tag") {
      const customer = el.closest("[data-customer]").dataset.customer;
      const { html } = await request("POST", `/console/customers/${customer}/tags/remove/`, { name: el.dataset.tag }, { html: true });
      $("#customer-tags").replaceChildren(fragment(html));
    }
  } catch (err) {
    showError(el, err);
  }
});

document.addEventListener("click", async (e) => {
  const b = e.target.closest("[data-snooze]");
  if (!b) return;
  await snooze(b.dataset.snooze, b);
});

async function snooze(until, el) {
  try {
    await request("POST", `/console/c/${state.open}/snooze/`, { until });
    $("#snooze-dialog")?.close();
    await refreshHeader();
  } catch (err) {
    showError(el, err);
  }
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("[data-form]");
  if (!form) return;
  e.preventDefault();
  try {
    if (form.dataset.form === "transfer") {
      const agent = form.elements.to_agent_id.value, group = form.elements.to_group_id.value;
      await client.call({
        type: "transfer", conversation_id: state.open, note: form.elements.note.value,
        to_agent_id: agent ? Number(agent) : null, to_group_id: agent ? null : group ? Number(group) : null,
      });
      const target = agent ? form.elements.to_agent_id.selectedOptions[0] : form.elements.to_group_id.selectedOptions[0];
      form.closest("dialog").close();
      showNotice((agent ? texts.transferred_agent : texts.transferred_group).replace("{name}", target?.dataset.name || ""));
      await refreshHeader();
    } else if (form.dataset.form === "snooze") {
      await snooze(form.elements.until.value, form);
    } else if (form.dataset.form === "wrapup") { // 咨询分类: resolve or close with the chosen category (the server checks it)
      const disposition = form.elements.disposition.value;
      await request("POST", `/console/c/${state.open}/state/`, { state: form.dataset.target || "resolved", disposition: disposition ? Number(disposition) : null });
      form.closest("dialog").close();
      await refreshHeader();
    } else if (form.dataset.form === "add-tag") {
      const { html } = await request("POST", `/console/customers/${form.dataset.customer}/tags/`, { name: form.elements.name.value }, { html: true });
      $("#customer-tags").replaceChildren(fragment(html));
      $("#customer-tags input")?.focus();
    }
  } catch (err) {
    showError(form, err);
  }
});

// One dialog ends a conversation either way (resolve, or close while open): its title and button say which.
function openWrapUp(target) {
  const dialog = $("#wrapup-dialog");
  dialog.querySelector("form").dataset.target = target;
  for (const el of dialog.querySelectorAll("[data-wrapup-for]")) el.hidden = el.dataset.wrapupFor !== target;
  dialog.showModal();
}

function showError(el, err) {
  const slot = el.closest("form, dialog, .conversation, .customer")?.querySelector(".form-error, .composer__error");
  const message = err.code === "already_taken" ? texts.taken : err.message || texts.error;
  if (slot) slot.textContent = message;
  else alert(message);
}

// Header and customer panel after a state change (ours or a colleague's).
async function refreshHeader() {
  const id = state.open;
  if (!id) return;
  let html;
  try {
    ({ html } = await request("GET", `/console/c/${id}/pane/`, undefined, { html: true }));
  } catch (err) {
    if (err.status === 404) return closeConversation(); // no longer visible to us (transferred away)
    return;
  }
  if (id !== state.open) return;
  const panes = fragment(html);
  const conv = panes.querySelector("#pane-conversation").content;
  const hadComposer = !!$("#composer"), hasComposer = !!conv.querySelector("#composer");
  // The composer came or went (a close, a reopen): the whole pane, header included; else the header alone.
  if (hadComposer !== hasComposer) mountFresh(conv);
  else $("#conversation-header").replaceWith(conv.querySelector("#conversation-header"));
  $("#customer-pane").replaceChildren(panes.querySelector("#pane-customer").content);
}

function mountFresh(conv) {
  $("#conversation-pane").replaceChildren(conv);
  mountConversation();
}

function closeConversation() {
  if (state.open) client.untrack(state.open);
  state.open = null;
  $("#conversation-pane").replaceChildren(Object.assign(document.createElement("p"), { className: "empty", textContent: "—" }));
  $("#customer-pane").replaceChildren();
  showPane("list");
}

// --- live events ----------------------------------------------------------------------------
let typingTimer;
function handleEvent(frame) {
  switch (frame.type) {
    case "hello":
      if (state.hellos++) reloadList(); // a reconnect: whatever changed meanwhile
      pull();
      sendVisibility();
      break;
    case "message": {
      const m = frame.message;
      if (m.conversation_id === state.open) pull();
      refreshRow(m.conversation_id);
      if (m.sender.kind === "customer") alertNew(m.conversation_id);
      break;
    }
    case "messages": // a resume answer (every reconnect): also the customer's read position now
      if (frame.conversation_id === state.open) {
        pull();
        applyReceipts(messagesEl(), texts, frame.peer_read_seq);
      }
      break;
    case "read":
      if (frame.conversation_id === state.open && frame.reader?.kind === "customer") applyReceipts(messagesEl(), texts, frame.seq);
      break;
    case "message.updated":
      if (frame.message.conversation_id === state.open) rerenderMessage(frame.message.seq);
      refreshRow(frame.message.conversation_id);
      break;
    case "outbound.state": // a WeChat delivery went out, failed or was retried: its line and the reply window
      if (frame.conversation_id === state.open) {
        // Not on screen yet (its pull is in flight or still to come): re-render it once it is.
        if (!deliveryChanged(frame, messagesEl(), rerenderMessage)) staleDelivery.add(Number(frame.message_id));
        refreshHeader();
      }
      break;
    case "ack":
      if (frame.message.conversation_id === state.open) pull();
      break;
    case "pending":
      if (frame.item.conversation_id === state.open) showPending(frame.item);
      break;
    case "error":
      if (frame.client_msg_id) markFailed(frame.client_msg_id, frame.message, frame.code);
      break;
    case "conversation.created":
    case "conversation.updated":
      refreshRow(frame.conversation.id);
      if (frame.conversation.id === state.open) refreshHeader();
      if (frame.type === "conversation.created" || (frame.conversation.assignee_id === config.userId && frame.conversation.state === "assigned")) alertNew(frame.conversation.id);
      break;
    case "typing":
      if (frame.conversation_id === state.open && frame.sender.key !== `u:${config.userId}`) {
        const name = frame.sender.name || (frame.sender.kind === "customer" ? $(".conversation").dataset.customerName : "");
        $("#typing").textContent = frame.is_typing ? texts.typing.replace("%(name)s", name) : "";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => ($("#typing").textContent = ""), 6000);
      }
      break;
    case "status":
      showStatus(frame.status);
      break;
    case "access.changed":
      reloadList();
      break;
    case "alert":
      showAlert(frame);
      break;
    case "alerts.changed": // 预警 opened or cleared: the banner as the server renders it for us
      refreshServiceAlerts();
      break;
  }
}

// Supervisors hear about sensitive words (a list with the "alert" action) wherever they are.
function showAlert(frame) {
  const box = $("#alerts");
  if (!box || frame.alert !== "sensitive_words") return;
  const words = frame.lists.flatMap((l) => l.words).join("、");
  const item = Object.assign(document.createElement("p"), { className: "alerts__item" });
  const link = Object.assign(document.createElement("a"), {
    href: `/console/c/${Number(frame.conversation_id)}/`,
    textContent: texts.sensitive_alert.replace("{id}", Number(frame.conversation_id)).replace("{words}", words),
  });
  const close = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: texts.dismiss });
  close.addEventListener("click", () => {
    item.remove();
    box.hidden = !box.childElementCount;
  });
  item.append(link, " ", close);
  box.prepend(item);
  while (box.childElementCount > 3) box.lastElementChild.remove();
  box.hidden = false;
  if (config.sound) beep({ frequency: 660, volume: 0.08, seconds: 0.3 });
}

// A confirmation of the agent's own action (a transfer): it stays until dismissed or replaced.
function showNotice(text) {
  const box = $("#alerts");
  if (!box) return;
  box.querySelector("[data-notice]")?.remove();
  const item = Object.assign(document.createElement("p"), { className: "alerts__item alerts__item--ok", role: "status", textContent: text + " " });
  item.dataset.notice = "";
  const close = Object.assign(document.createElement("button"), { type: "button", className: "link", textContent: texts.dismiss });
  close.addEventListener("click", () => {
    item.remove();
    box.hidden = !box.childElementCount;
  });
  item.append(close);
  box.prepend(item);
  box.hidden = false;
}

// --- attention: title badge and sound when the agent is not looking -----------------------------
function alertNew(conversationId) {
  if (!document.hidden && conversationId === state.open) return;
  if ($("#status-select")?.value === "offline") return; // offline means no interruptions
  if (document.hidden) {
    state.unseen += 1;
    document.title = `(${state.unseen}) ${baseTitle}`;
  }
  if (config.sound) beep({ frequency: 880, volume: 0.08, seconds: 0.25 });
}

// The server sends Web Push only while no tab of ours is visible: tell it when that changes.
function sendVisibility() {
  client.frame({ type: "visibility", visible: !document.hidden });
}
document.addEventListener("visibilitychange", () => {
  sendVisibility();
  if (!document.hidden) {
    state.unseen = 0;
    document.title = baseTitle;
    markRead();
  }
});
setInterval(() => !document.hidden && sendVisibility(), 30000);

// Recall buttons disappear when the window closes.
setInterval(() => {
  const now = Date.now();
  for (const b of document.querySelectorAll("[data-recall-until]")) if (Date.parse(b.dataset.recallUntil) < now) b.hidden = true;
}, 5000);

initStatusSwitch();
registerServiceWorker().catch(() => {}); // installable PWA; push is enabled from Settings
mountConversation();
afterListChange();
client.start();
