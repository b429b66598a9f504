// Wires the demo pages (customer and agent) to ChatClient. Message text is
// always inserted with textContent: customer input is never parsed as HTML.
import { ChatClient } from "./client.js";

const root = document.getElementById("chat");
const role = root.dataset.role;
const list = root.querySelector("[data-messages]");
const statusEl = root.querySelector("[data-status]");
const typingEl = root.querySelector("[data-typing]");
const form = root.querySelector("[data-composer]");
const input = form.querySelector("textarea");
const select = root.querySelector("[data-conversations]");
const texts = JSON.parse(document.getElementById("chat-texts").textContent);
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

function csrfToken() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

function render(message, pending = false) {
  const key = message.client_msg_id || `s${message.seq}`;
  let li = list.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.key = key;
    li.innerHTML = '<span class="who"></span><span class="body"></span>';
    list.append(li);
  }
  const mine = role === "customer" ? message.sender?.kind === "customer" : message.sender?.kind === "agent";
  li.className = `msg msg-${message.sender?.kind || "customer"}${mine ? " msg-mine" : ""}${pending ? " msg-pending" : ""}${message.is_private ? " msg-private" : ""}`;
  li.querySelector(".who").textContent = message.sender?.name || (mine ? texts.me : "");
  li.querySelector(".body").textContent = message.recalled ? texts.recalled : message.body;
  list.scrollTop = list.scrollHeight;
}

function currentConversation() {
  if (role === "agent") return select.value ? Number(select.value) : null;
  return client.customerConversation || null;
}

async function customerToken() {
  const key = `helpdesk:${root.dataset.inboxKey}:token`;
  const response = await fetch(root.dataset.sessionUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ inbox_key: root.dataset.inboxKey, token: localStorage.getItem(key) || "" }),
  });
  const data = await response.json();
  localStorage.setItem(key, data.token);
  return data.token;
}

let client;
let typingTimer;

async function main() {
  let wsUrl = wsBase + root.dataset.wsPath;
  let authHeader = null;
  let storageKey = `helpdesk:agent`;
  if (role === "customer") {
    const token = await customerToken();
    wsUrl += `?token=${encodeURIComponent(token)}`;
    authHeader = `Customer ${token}`;
    storageKey = `helpdesk:${root.dataset.inboxKey}`;
  }
  client = new ChatClient({
    wsUrl,
    role,
    authHeader,
    storageKey,
    apiRoot: root.dataset.apiRoot,
    csrfToken: role === "agent" ? csrfToken() : null,
    onStatus: (s) => (statusEl.textContent = texts[s] || s),
    onEvent: (e) => {
      if (e.type === "pending") return render({ ...e.item, sender: { kind: role } }, true);
      if (e.type === "deliver") {
        if (role === "customer") client.customerConversation = e.message.conversation_id;
        if (role === "agent" && e.message.conversation_id !== currentConversation()) return;
        return render(e.message);
      }
      if (e.type === "typing" && e.sender.kind !== role) {
        typingEl.hidden = !e.is_typing;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => (typingEl.hidden = true), 5000);
      }
      if (e.type === "conversation.created" && role === "agent") {
        const opt = new Option(`#${e.conversation.id}`, e.conversation.id);
        select.add(opt, 0);
        if (!select.value || select.options.length === 1) select.value = e.conversation.id;
      }
      if (e.type === "error") statusEl.textContent = e.message;
    },
  });
  client.lastSeq.clear(); // a fresh page shows the whole history again
  for (const item of client.outbox) render({ ...item, sender: { kind: role } }, true);
  client.start();
  if (role === "agent") {
    const showSelected = () => {
      list.replaceChildren();
      const id = currentConversation();
      if (id) {
        client.lastSeq.set(id, 0); // show the whole history of the selected conversation
        client.resume(id);
      }
    };
    select.addEventListener("change", showSelected);
    setTimeout(showSelected, 300);
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  const body = input.value;
  if (!body.trim()) return;
  if (role === "agent" && !currentConversation()) return;
  client.send(body, currentConversation());
  input.value = "";
});
input.addEventListener("input", () => {
  const id = currentConversation();
  if (id) client.typing(id, input.value.length > 0);
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    form.requestSubmit();
  }
});

main();
