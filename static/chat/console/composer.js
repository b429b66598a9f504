// The reply box: send through the client's outbox (optimistic, retried until acknowledged),
// private notes, quick phrases (type "/" or tap ⚡; searchable; Chinese matches by substring),
// emoji, attachments, and typing signals. A phrase with an attachment sends it with the text.
// 常见问题 (the book button): faq.js.
import { initFaq } from "./faq.js";
import { request } from "./http.js";

let phraseCache = null;

async function loadPhrases() {
  if (!phraseCache) phraseCache = request("GET", "/console/phrases/").then((r) => r.phrases).catch(() => (phraseCache = null, []));
  return phraseCache;
}

function fill(body, { customerName, agentName }) {
  return body.replaceAll("{customer_name}", customerName).replaceAll("{agent_name}", agentName);
}

export function initComposer(form, { client, conversationId, customerName, agentName, texts }) {
  const input = form.querySelector("#composer-input");
  const picker = form.querySelector("#phrase-picker");
  const search = form.querySelector("#phrase-search");
  const options = form.querySelector("#phrase-options");
  const emoji = form.querySelector("#emoji-picker");
  const error = form.querySelector(".composer__error");
  let typingSent = 0, typingStop, active = 0, matches = [];
  let phraseAttachment = null; // the attachment of the inserted phrase, sent with the next message
  let phraseUse = null; // the pending POST that counts the inserted phrase's use
  const chip = document.createElement("p");
  chip.className = "composer__attachment";
  chip.hidden = true;
  input.before(chip);

  const isNote = () => form.elements.mode.value === "note";
  const faq = initFaq(form, { send, texts, closeOthers: () => { closePicker(); emoji.hidden = true; } });

  function send(body, extra = {}) {
    client.send(body, conversationId, { is_private: isNote(), ...extra });
    error.textContent = "";
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = input.value.trim();
    const attachment = phraseAttachment;
    if (!body && !attachment) return;
    const extra = { is_private: isNote(), ...(attachment ? { msg_type: attachment.kind === "image" ? "image" : "file", attachments: [attachment] } : {}) };
    setPhraseAttachment(null);
    input.value = "";
    stopTyping();
    input.focus();
    // A phrase's use is counted before the message it filled is sent (at most a short wait).
    const use = phraseUse;
    phraseUse = null;
    if (use) await Promise.race([use, new Promise((resolve) => setTimeout(resolve, 2000))]);
    send(body, extra);
  });

  input.addEventListener("keydown", (e) => {
    if (!picker.hidden && ["ArrowDown", "ArrowUp", "Enter", "Escape", "Tab"].includes(e.key)) return pickerKeys(e);
    // Enter sends on a keyboard; on a touch screen it is a new line (the Send button sends).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !matchMedia("(pointer: coarse)").matches) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  input.addEventListener("input", () => {
    const m = input.value.match(/^\/(\S*)$/);
    if (m) openPicker(m[1]);
    else if (!picker.hidden && !picker.contains(document.activeElement)) closePicker();
    if (!isNote()) startTyping();
  });

  // --- typing --------------------------------------------------------------------------------
  function startTyping() {
    const now = Date.now();
    if (now - typingSent > 3000) {
      client.typing(conversationId, true);
      typingSent = now;
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingStop);
    if (typingSent) client.typing(conversationId, false);
    typingSent = 0;
  }

  // --- quick phrases -------------------------------------------------------------------------
  async function openPicker(query = "") {
    picker.hidden = false;
    emoji.hidden = true;
    faq.close();
    const all = await loadPhrases();
    // The server folds each phrase (lower case, full width, simplified and traditional forms) into p.search.
    const q = query.normalize("NFKC").toLowerCase().trim();
    const found = all.filter((p) => !q || (p.search ?? `${p.shortcut}\n${p.title}\n${p.body}`.toLowerCase()).includes(q));
    if (q) found.sort((a, b) => Number(!a.shortcut.toLowerCase().startsWith(q)) - Number(!b.shortcut.toLowerCase().startsWith(q)));
    matches = found.slice(0, 30);
    active = 0;
    renderOptions();
  }

  function renderOptions() {
    options.replaceChildren();
    if (!matches.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = texts.no_phrases;
      options.append(li);
      return;
    }
    matches.forEach((p, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = `phrase-${p.id}`;
      li.setAttribute("aria-selected", String(i === active));
      li.dataset.index = i;
      const key = document.createElement("strong");
      key.textContent = `/${p.shortcut} `;
      const title = document.createElement("span");
      title.textContent = p.title;
      const body = document.createElement("small");
      body.textContent = p.attachment ? `📎 ${p.attachment.name} · ${p.body}` : p.body;
      li.append(key, title, body);
      options.append(li);
    });
  }

  function closePicker() {
    picker.hidden = true;
    search.value = "";
  }

  function setPhraseAttachment(attachment) {
    phraseAttachment = attachment || null;
    chip.hidden = !phraseAttachment;
    chip.replaceChildren();
    if (!phraseAttachment) return;
    const name = document.createElement("span");
    name.textContent = `📎 ${phraseAttachment.name}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "×";
    remove.setAttribute("aria-label", texts.remove_attachment || "×");
    remove.addEventListener("click", () => setPhraseAttachment(null));
    chip.append(name, remove);
  }

  function choose(p) {
    input.value = fill(p.body, { customerName, agentName });
    setPhraseAttachment(p.attachment);
    closePicker();
    input.focus();
    phraseUse = request("POST", `/console/phrases/${p.id}/use/`).catch(() => {});
  }

  function pickerKeys(e) {
    if (e.key === "Escape") return closePicker();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + matches.length) % Math.max(matches.length, 1);
      return renderOptions();
    }
    if ((e.key === "Enter" || e.key === "Tab") && matches[active]) {
      e.preventDefault();
      choose(matches[active]);
    }
  }

  options.addEventListener("click", (e) => {
    const li = e.target.closest("[data-index]");
    if (li) choose(matches[Number(li.dataset.index)]);
  });
  search.addEventListener("input", () => openPicker(search.value));
  search.addEventListener("keydown", (e) => ["ArrowDown", "ArrowUp", "Enter", "Escape"].includes(e.key) && pickerKeys(e));

  form.querySelector('[data-action="phrases"]').addEventListener("click", () => {
    if (!picker.hidden) return closePicker();
    openPicker();
    search.focus();
  });

  // --- emoji -----------------------------------------------------------------------------------
  form.querySelector('[data-action="emoji"]').addEventListener("click", () => {
    emoji.hidden = !emoji.hidden;
    picker.hidden = true;
    faq.close();
  });
  emoji.addEventListener("click", (e) => {
    const b = e.target.closest("[data-emoji]");
    if (!b) return;
    const at = input.selectionStart ?? input.value.length;
    input.value = input.value.slice(0, at) + b.dataset.emoji + input.value.slice(input.selectionEnd ?? at);
    input.focus();
    input.selectionStart = input.selectionEnd = at + b.dataset.emoji.length;
  });

  // --- attachments ------------------------------------------------------------------------------
  form.querySelector("#composer-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    const data = new FormData();
    data.append("file", file);
    try {
      const attachment = await request("POST", "/api/v1/uploads", data);
      send("", { msg_type: attachment.kind === "image" ? "image" : "file", attachments: [attachment] });
    } catch (err) {
      error.textContent = err.message;
    }
  });
}
