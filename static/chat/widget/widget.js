// The chat inside the widget frame (and the full-page H5 chat: same code). Help first, then
// the chat; pre-chat form; leave-a-message after hours; queue position; CSAT at the end.
// Messages are always inserted as text (never parsed as HTML). The protocol client keeps an
// outbox in localStorage: what the customer typed survives reloads and network drops and is
// sent exactly once (client message ids); history comes back by resuming from seq 0.
import { beep } from "../beep.js";
import { ChatClient } from "../client.js";
import { choiceButtons, isChoice } from "./choices.js";
import { applyTheme, isColor, textOn } from "./theme.js";

const $ = (id) => document.getElementById(id);
const key = document.body.dataset.inboxKey;
const embedded = document.body.dataset.mode === "embed" && window.parent !== window;
const texts = JSON.parse($("w-texts").textContent);
const look = document.body.dataset;  // the inbox's widget look (admin: widget editor)
applyTheme(document.documentElement, look.color);

// The inbox's avatar. A window opened before the owner replaced it still names the old file, which
// is deleted (404): a picture that does not load gives way to the default look, never a broken icon.
const AVATARS = "img.w-avatar, img.w-msg-avatar";
function dropAvatar() {
  delete look.avatar; // messages from now on get none
  for (const img of document.querySelectorAll(AVATARS)) {
    img.parentElement.classList.remove("w-msg--avatar");
    img.remove();
  }
}
document.addEventListener("error", (e) => { if (e.target.matches?.(AVATARS)) dropAvatar(); }, true); // error does not bubble
const headerAvatar = document.querySelector("img.w-avatar");
if (headerAvatar?.complete && !headerAvatar.naturalWidth) dropAvatar(); // failed before this module ran
const store = `hd:${key}`;
const state = { token: null, session: null, client: null, open: !embedded, unread: 0, conversationId: null, rated: new Set(), hostPage: null,
  agentRead: new Map(), seen: new Map(), readSent: new Map(), readTimer: null }; // read receipts: how far agents have read / the customer has seen, per conversation

function toHost(message) {
  if (embedded) window.parent.postMessage({ helpdesk: 1, ...message }, "*"); // the loader checks our origin
}

// Where the visitor token and the outbox live. Embedded, the host page keeps them in its own
// (first-party) localStorage: browsers that block or partition third-party storage would
// otherwise forget the visitor. The frame holds a copy and mirrors every write to the host.
const hostStorage = {
  data: new Map(),
  getItem(k) { return this.data.has(k) ? this.data.get(k) : null; },
  setItem(k, v) { this.data.set(k, String(v)); toHost({ type: "store", key: k, value: String(v) }); },
  removeItem(k) { this.data.delete(k); toHost({ type: "store", key: k, value: null }); },
};
function ownStorage() {
  try {
    localStorage.setItem("hd:probe", "1"); // (was `storage`, still uninitialised here: the H5 page never kept its visitor)
    localStorage.removeItem("hd:probe");
    return localStorage;
  } catch {
    return { ...hostStorage, data: new Map(), setItem(k, v) { this.data.set(k, String(v)); }, removeItem(k) { this.data.delete(k); } };
  }
}
const storage = embedded ? hostStorage : ownStorage();

// --- session (identity) ------------------------------------------------------------------
async function api(method, path, body, isForm = false) {
  const headers = {};
  if (state.token) headers.Authorization = `Customer ${state.token}`;
  if (body && !isForm) headers["Content-Type"] = "application/json";
  const r = await fetch(`/api/v1/${path}`, { method, headers, body: body ? (isForm ? body : JSON.stringify(body)) : undefined });
  const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.error?.message || r.statusText), { status: r.status, code: data.error?.code, retryAfter: data.error?.retry_after });
  return data;
}

async function openSession(identity) {
  const body = { inbox_key: key, token: storage.getItem(`${store}:token`) || "" };
  if (state.hostPage) body.page = state.hostPage;
  if (identity && identity.userId) {
    body.user_id = String(identity.userId);
    body.user_hash = String(identity.userHash || "");
    if (identity.attributes) body.attributes = identity.attributes;
  } else if (identity?.attributes?.name) body.name = String(identity.attributes.name);
  let session;
  try {
    session = await api("POST", "customer/session", body);
  } catch (e) {
    if (!["invalid_identity", "identity_required", "invalid_attributes"].includes(e.code)) throw e;
    // The merchant's signature did not verify: chat anonymously rather than not at all.
    delete body.user_id, delete body.user_hash, delete body.attributes;
    session = await api("POST", "customer/session", body);
  }
  if (session.token !== storage.getItem(`${store}:token`)) {
    storage.setItem(`${store}:token`, session.token);
  }
  state.token = session.token;
  state.session = session;
  return session;
}

// --- views ---------------------------------------------------------------------------------
function show(view) {
  for (const id of ["w-home", "w-prechat", "w-chat"]) $(id).hidden = id !== view;
  if (view === "w-chat") {
    $("w-input").focus({ preventScroll: true });
    scrollEnd();
  }
}

function renderAvailability(inbox) {
  const a = inbox.availability || { state: "open" };
  const away = a.state !== "open";
  $("w-availability").textContent = away ? texts.away : texts.open;
  $("w-notice").hidden = !away;
  $("w-notice").textContent = away ? texts.away : "";
  if (inbox.greeting) document.querySelector("[data-greeting]").textContent = inbox.greeting;
}

function renderPrechat(fields) {
  const form = $("w-prechat-form");
  form.replaceChildren();
  for (const f of fields) {
    const id = `w-f-${f.key}`;
    const label = Object.assign(document.createElement("label"), { htmlFor: id, className: "w-label", textContent: f.label + (f.required ? " *" : "") });
    const input = document.createElement(f.type === "textarea" ? "textarea" : "input");
    Object.assign(input, { id, name: f.key, required: !!f.required, maxLength: 200 });
    if (f.type !== "textarea") input.type = { email: "email", tel: "tel" }[f.type] || "text";
    form.append(label, input);
  }
  form.append(Object.assign(document.createElement("p"), { className: "w-error", role: "alert" }));
  form.append(Object.assign(document.createElement("button"), { type: "submit", className: "w-primary", textContent: texts.next }));
}

$("w-prechat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target, data = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.required && !el.value.trim()) return void (form.querySelector(".w-error").textContent = `${texts.required} (${el.previousSibling.textContent})`);
    if (el.value.trim()) data[el.name] = el.value.trim();
  }
  try {
    await api("POST", "customer/profile", data);
    storage.setItem(`${store}:prechat:${state.session.customer_id}`, "1");
    startChat();
  } catch (err) {
    form.querySelector(".w-error").textContent = err.message;
  }
});

document.addEventListener("click", (e) => {
  const action = e.target.closest("[data-action]")?.dataset.action;
  if (action === "close") toHost({ type: "close" });
  if (action === "handoff" && state.botConversation) {
    api("POST", `customer/conversations/${state.botConversation}/handoff`).then(() => ($("w-bot").hidden = true), (err) => ($("w-error").textContent = err.message));
  }
  // Tapped before the session answered (a slow network): start as soon as it has.
  if (action === "start") state.session ? startFromHome() : (state.startWhenReady = true);
});

function startFromHome() {
  const fields = state.session.inbox.prechat_fields || [];
  if (fields.length && !storage.getItem(`${store}:prechat:${state.session.customer_id}`)) {
    renderPrechat(fields);
    show("w-prechat");
  } else startChat();
}

// --- help first: search the knowledge base before writing -------------------------------------
let searchTimer;
$("w-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(helpSearch, 250);
});

// Snippets come highlighted from the server; rebuild them from text and <mark> only.
function snippet(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  const p = document.createElement("p");
  for (const node of t.content.childNodes) {
    p.append(node.nodeName === "MARK" ? Object.assign(document.createElement("mark"), { textContent: node.textContent }) : node.textContent);
  }
  return p;
}

async function helpSearch() {
  const q = $("w-search").value.trim();
  const out = $("w-articles");
  if (!q) return out.replaceChildren();
  try {
    const { results } = await api("GET", `customer/help/search?q=${encodeURIComponent(q)}&locale=${document.documentElement.lang}`);
    out.replaceChildren(...results.map((r) => {
      const li = document.createElement("li");
      li.append(Object.assign(document.createElement("a"), { href: r.url, target: "_blank", rel: "noopener", textContent: r.title }), snippet(r.snippet));
      return li;
    }));
    if (!results.length) out.append(Object.assign(document.createElement("li"), { className: "w-muted", textContent: texts.no_results }));
  } catch { /* the contact button still works */ }
}

// --- messages --------------------------------------------------------------------------------
const list = $("w-messages");
const order = (m) => m.conversation_id * 1e9 + m.seq;

function scrollEnd() {
  list.scrollTop = list.scrollHeight;
}

function bubble(m, pending = false) {
  const li = document.createElement("li");
  const mine = pending || m.sender?.kind === "customer";
  li.className = `w-msg w-msg--${pending ? "customer" : m.sender.kind}${mine ? " w-msg--mine" : ""}${pending ? " w-msg--pending" : ""}`;
  if (!pending) li.dataset.order = order(m);
  li.dataset.client = m.client_msg_id || "";
  if (!mine && look.avatar && ["agent", "bot"].includes(m.sender?.kind)) {
    li.classList.add("w-msg--avatar");  // decorative: the name beside it says who wrote
    li.append(Object.assign(document.createElement("img"), { className: "w-msg-avatar", src: look.avatar, alt: "", width: 28, height: 28 }));
  }
  if (!mine && m.sender?.kind !== "system" && m.sender?.name) li.append(Object.assign(document.createElement("span"), { className: "w-who", textContent: m.sender.name }));
  const body = document.createElement("div");
  body.className = "w-body";
  if (m.recalled) body.append(Object.assign(document.createElement("em"), { textContent: texts.recalled }));
  for (const a of (!m.recalled && m.attachments) || []) {
    if (isChoice(a) && m.sender?.kind === "bot") continue; // shown as buttons below
    const link = Object.assign(document.createElement("a"), { href: a.url, target: "_blank", rel: "noopener noreferrer" });
    if ((m.type || m.msg_type) === "image") link.append(Object.assign(document.createElement("img"), { src: a.url, alt: a.name || "" }));
    else link.textContent = `${{ article: "📄", card: "🔗" }[m.type || m.msg_type] || "📎"} ${a.name || texts.file}`;
    body.append(link);
  }
  if (!m.recalled && m.body) body.append(Object.assign(document.createElement("p"), { textContent: m.body }));
  const choices = !pending && choiceButtons(m, botChoices);
  if (choices) body.append(choices);
  li.append(body);
  if (pending) li.append(Object.assign(document.createElement("small"), { className: "w-state", textContent: texts.sending }));
  else if (mine && !m.recalled) li.append(receipt(m));
  return li;
}

// --- read receipts: 已读/未读 on the customer's own messages -------------------------------------
function receipt(m) {
  const el = Object.assign(document.createElement("small"), { className: "w-receipt" });
  Object.assign(el.dataset, { conversation: m.conversation_id, seq: m.seq });
  setReceipt(el, m.seq <= (state.agentRead.get(m.conversation_id) || 0));
  return el;
}

function setReceipt(el, read) {
  el.dataset.receipt = read ? "read" : "unread";
  el.textContent = read ? texts.read : texts.unread;
}

// An agent read up to `seq` (a live `read` event, or the position a resume answer carries).
function agentRead(conversationId, seq) {
  if (!(seq > (state.agentRead.get(conversationId) || 0))) return;
  state.agentRead.set(conversationId, seq);
  for (const el of list.querySelectorAll(`.w-receipt[data-receipt="unread"][data-conversation="${Number(conversationId)}"]`)) {
    if (Number(el.dataset.seq) <= seq) setReceipt(el, true);
  }
}

const botChoices = {
  ask: (title) => sendText(title),
  contactForm: (conversationId) => contactForm(conversationId),
  feedback: (m, resolved) => api("POST", `customer/conversations/${m.conversation_id}/bot-feedback`, { message_id: m.id, resolved }),
  handoff: (conversationId) => api("POST", `customer/conversations/${conversationId}/handoff`).then(() => ($("w-bot").hidden = true)),
};

// 留下联系方式: a phone number or a WeChat ID (at least one) for the reply when nobody can answer now.
function contactForm(conversationId) {
  const form = Object.assign(document.createElement("form"), { className: "w-contact", noValidate: true });
  const field = (name, label, type, autocomplete) => {
    const id = `w-contact-${name}-${conversationId}`;
    const input = Object.assign(document.createElement("input"), { id, name, type, autocomplete, maxLength: name === "phone" ? 32 : 40 });
    return [Object.assign(document.createElement("label"), { htmlFor: id, className: "w-label", textContent: label }), input];
  };
  const error = Object.assign(document.createElement("p"), { className: "w-error", role: "alert" });
  const submit = Object.assign(document.createElement("button"), { type: "submit", className: "w-primary", textContent: texts.contact_send });
  form.append(...field("phone", texts.contact_phone, "tel", "tel"), ...field("wechat", texts.contact_wechat, "text", "off"), error, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const phone = form.elements.phone.value.trim(), wechat = form.elements.wechat.value.trim();
    if (!phone && !wechat) return void (error.textContent = texts.contact_needed);
    submit.disabled = true;
    try {
      await api("POST", `customer/conversations/${conversationId}/contact`, { phone, wechat });
      form.replaceWith(Object.assign(document.createElement("p"), { className: "w-contact-done", role: "status", textContent: texts.contact_done }));
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
    }
  });
  return form;
}

function place(m) {
  list.querySelector(".w-welcome")?.remove(); // the conversation has begun: its stored welcome comes with it
  if (m.client_msg_id) list.querySelector(`.w-msg--pending[data-client="${CSS.escape(m.client_msg_id)}"]`)?.remove();
  const existing = list.querySelector(`[data-order="${order(m)}"]`);
  const li = bubble(m);
  if (existing) return existing.replaceWith(li);
  const after = [...list.querySelectorAll("[data-order]")].reverse().find((el) => Number(el.dataset.order) < order(m));
  // Pending bubbles stay last: a confirmed message goes right after the last older one.
  if (after) after.after(li);
  else list.prepend(li);
}

// --- the chat ---------------------------------------------------------------------------------
function connect() {
  if (state.client) return;
  const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  state.client = new ChatClient({
    wsUrl: `${wsBase}/ws/customer/?token=${encodeURIComponent(state.token)}`,
    apiRoot: "/api/v1/",
    role: "customer",
    storageKey: `${store}:c${state.session.customer_id}`,
    authHeader: `Customer ${state.token}`,
    onEvent,
    onStatus: (s) => ($("w-status").textContent = texts[s] || ""),
    storage,
  });
  state.client.lastSeq = new Map(); // history is fetched again on every load (only the outbox is kept)
  state.client.start();
  for (const item of state.client.outbox) list.append(bubble(item, true));
}

function startChat() {
  connect();
  showWelcome();
  show("w-chat");
}

// The welcome greets before the customer writes. Shown here until the conversation exists: its
// stored copy (seq 1, written before the first message) then takes its place.
function showWelcome() {
  const text = state.session.welcome;
  if (!text || state.session.conversation || list.querySelector("[data-order], .w-welcome")) return;
  const li = bubble({ sender: { kind: "bot", name: state.session.assistant || "" }, body: text, attachments: [] });
  li.classList.add("w-welcome");
  li.removeAttribute("data-order");
  list.prepend(li);
}

function onEvent(f) {
  switch (f.type) {
    case "deliver": {
      const m = f.message;
      place(m);
      state.conversationId = Math.max(state.conversationId || 0, m.conversation_id);
      // A person's or the assistant's line asks for attention; a system notice (客服 X 为您服务) does not.
      if (m.sender.kind !== "customer" && m.sender.kind !== "system" && f.live) attention(m);
      markRead(m);
      scrollEnd();
      break;
    }
    case "message.updated":
      place(f.message);
      break;
    case "read":
      if (f.reader?.kind === "agent") agentRead(f.conversation_id, f.seq);
      break;
    case "messages": // a resume answer: the agents' read position too (live `read` events may have been dropped)
      if (f.peer_read_seq != null) agentRead(f.conversation_id, f.peer_read_seq);
      break;
    case "pending":
      list.append(bubble(f.item, true));
      scrollEnd();
      break;
    case "error":
      if (f.client_msg_id) {
        const li = list.querySelector(`.w-msg--pending[data-client="${CSS.escape(f.client_msg_id)}"] .w-state`);
        // rate_limited: a polite line from the server; the client sends it again after retry_after.
        // blocked: the server's polite line as it is, not as a failure to retry.
        if (li) li.textContent = f.code === "rate_limited" || f.code === "blocked" ? f.message : `${texts.failed}: ${f.message}`;
        // Anything but rate_limited is final (the client dropped it from its outbox): no longer pending.
        if (li && f.code !== "rate_limited") li.closest(".w-msg")?.classList.replace("w-msg--pending", "w-msg--refused");
      }
      $("w-error").textContent = f.client_msg_id ? "" : f.message || "";
      break;
    case "typing":
      if (f.sender.kind !== "customer") {
        $("w-typing").textContent = f.is_typing ? texts.typing : "";
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(() => ($("w-typing").textContent = ""), 6000);
      }
      break;
    case "queue.position":
      $("w-notice").hidden = false;
      $("w-notice").textContent = texts.queue.replace("{n}", f.position);
      break;
    case "hello":
      for (const c of f.conversations || []) conversationChanged(c);
      flushReads();
      break;
    case "conversation.created":
    case "conversation.updated":
      conversationChanged(f.conversation);
      break;
  }
}

function conversationChanged(c) {
  // While the bot has the chat, a person is always one tap away.
  if (c.state === "bot") state.botConversation = c.id;
  if (state.botConversation === c.id) $("w-bot").hidden = c.state !== "bot";
  if (c.state === "assigned" && $("w-notice").textContent.match(/\d/)) $("w-notice").hidden = true;
  if ((c.state === "resolved" || c.state === "closed") && state.session.inbox.csat_enabled && !state.rated.has(c.id)) offerRating(c.id);
  if (["queued", "assigned", "bot", "pending"].includes(c.state) && !state.open && embedded && state.session.conversation == null) state.session.conversation = c;
}

async function offerRating(conversationId) {
  state.rated.add(conversationId); // ask once per conversation and load
  try {
    await api("GET", `customer/conversations/${conversationId}/rating`);
    return; // already rated
  } catch (e) {
    if (e.status !== 404) return;
  }
  const form = $("w-csat");
  form.dataset.conversation = conversationId;
  form.hidden = false;
  scrollEnd();
}

// The reasons follow the rating: what went well (满意 and above), or what did not.
$("w-csat").addEventListener("change", (e) => {
  if (e.target.name !== "rating") return;
  const praise = Number(e.target.value) >= 4;
  for (const box of $("w-csat").querySelectorAll(".w-reasons")) {
    box.hidden = (box.dataset.reasons === "praise") !== praise;
    if (box.hidden) for (const el of box.querySelectorAll("input")) el.checked = false;
  }
});

$("w-csat").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  try {
    const side = form.querySelector(".w-reasons:not([hidden])");
    const reasons = side ? [...side.querySelectorAll("input:checked")].map((el) => el.value) : [];
    await api("POST", `customer/conversations/${form.dataset.conversation}/rating`, { rating: Number(form.elements.rating.value), comment: form.elements.comment.value, reasons });
    form.hidden = true;
    $("w-csat-thanks").hidden = false;
  } catch (err) {
    form.querySelector(".w-error").textContent = err.message;
  }
});

let typingSent = 0;
$("w-input").addEventListener("input", () => {
  if (Date.now() - typingSent > 3000 && state.conversationId) {
    state.client?.typing(state.conversationId, true);
    typingSent = Date.now();
  }
});
$("w-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !matchMedia("(pointer: coarse)").matches) {
    e.preventDefault();
    $("w-composer").requestSubmit();
  }
});
$("w-composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("w-input").value.trim();
  if (!text) return;
  sendText(text);
  $("w-input").value = "";
});

function sendText(text) {
  connect();
  state.client.send(text, null, { entry_page: state.hostPage?.url || "" });
}

$("w-file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const a = await api("POST", "uploads", form, true);
    state.client.send("", null, { msg_type: a.kind === "image" ? "image" : "file", attachments: [a] });
    $("w-error").textContent = "";
  } catch (err) {
    $("w-error").textContent = err.message;
  }
});

// --- attention: unread badge on the launcher, sound ---------------------------------------------
function visible() {
  return state.open && !document.hidden;
}

function attention(m) {
  toHost({ type: "message", message: { conversation_id: m.conversation_id, seq: m.seq, sender: m.sender, type: m.type, body: m.body } });
  if (visible()) return;
  state.unread += 1;
  toHost({ type: "unread", count: state.unread });
  beep({ frequency: 660, volume: 0.06, seconds: 0.3 });
}

// Seen while the chat is shown: one `read` frame per conversation for a burst (a resumed history).
function markRead(m) {
  state.seen.set(m.conversation_id, Math.max(m.seq, state.seen.get(m.conversation_id) || 0));
  flushReads();
}

function flushReads() {
  if (!visible() || state.readTimer || !state.seen.size) return;
  state.readTimer = setTimeout(() => {
    state.readTimer = null;
    if (!visible()) return;
    for (const [id, seq] of state.seen) {
      // Not sent while offline: the next flush (on reconnect) sends it.
      if (seq > (state.readSent.get(id) || 0) && state.client?.frame({ type: "read", conversation_id: id, seq })) state.readSent.set(id, seq);
    }
  }, 200);
}

function opened() {
  state.open = true;
  state.unread = 0;
  flushReads(); // what arrived while the chat was closed is read now
  toHost({ type: "unread", count: 0 });
  if (!$("w-chat").hidden) scrollEnd();
}
document.addEventListener("visibilitychange", () => visible() && opened());

// --- the host page (loader) -------------------------------------------------------------------
addEventListener("message", async (e) => {
  if (!embedded || e.source !== window.parent || !e.data || e.data.helpdesk !== 1) return;
  const d = e.data;
  if (d.type === "init") {
    for (const [k, v] of Object.entries(d.store || {})) hostStorage.data.set(k, String(v));
    state.hostPage = d.page || null;
    if (d.open) opened();
    await boot(d.identity);
  } else if (d.type === "open") opened();
  else if (d.type === "close") state.open = false;
  else if (d.type === "page" && d.page && state.token) api("POST", "customer/visits", d.page).catch(() => {});
  else if (d.type === "identify") {
    const before = state.session?.customer_id;
    const session = await openSession(d.identity);
    if (session.customer_id !== before) location.reload(); // another person: start clean with their history
  } else if (d.type === "send" && d.text) {
    sendText(String(d.text));
    show("w-chat");
  }
});

async function boot(identity) {
  if (state.session) return;
  try {
    $("w-home").hidden = false;
    const session = await openSession(identity);
    renderAvailability(session.inbox);
    $("w-help").hidden = !session.inbox.help_center;
    // Someone already talking (or back after a reload): straight to the conversation.
    if (session.conversation || state.client?.outbox?.length || storage.getItem(`${store}:c${session.customer_id}:outbox`)?.length > 2) startChat();
    else if (state.startWhenReady) startFromHome();
    else show("w-home");
    if (!embedded || session.conversation) connect();
  } catch (err) {
    $("w-status").textContent = err.message;
    // Too many new visitors from this network just now (rate_limited): open the chat once the wait is over.
    if (err.code === "rate_limited") setTimeout(() => boot(identity), Math.max(1, err.retryAfter || 1) * 1000);
  }
}

if (embedded) {
  toHost({ type: "ready", appearance: isColor(look.color)
    ? { color: look.color, text: textOn(look.color), position: look.position, launcherText: look.launcherText || "" } : null });
} else {
  const params = new URLSearchParams(location.search);
  state.hostPage = params.get("page") ? { url: params.get("page"), title: "" } : null;
  boot(params.get("user_id") ? { userId: params.get("user_id"), userHash: params.get("user_hash"), attributes: params.get("name") ? { name: params.get("name") } : undefined } : null);
}
