// 常见问题 in the reply box: search the knowledge base (internal-only articles included; GET
// /console/faq/?q=), then send an article card or paste the answer into the reply box. Internal
// articles have no help-center page a customer could open: they are pasted, never sent as a card.
import { request } from "./http.js";

export function initFaq(form, { send, texts, closeOthers }) {
  const picker = form.querySelector("#faq-picker");
  const toggle = form.querySelector('[data-action="faq"]');
  if (!picker || !toggle) return { close() {} };
  const search = picker.querySelector("#faq-search");
  const list = picker.querySelector("#faq-options");
  const input = form.querySelector("#composer-input");
  let timer, asked = 0, shown = [];

  async function load(q) {
    const ticket = ++asked; // only the answer to the latest query is shown
    try {
      const { articles } = await request("GET", `/console/faq/?q=${encodeURIComponent(q)}`);
      if (ticket === asked) render(q, articles);
    } catch (err) {
      if (ticket === asked) render(q, [], err.message || texts.error);
    }
  }

  function render(q, articles, error) {
    shown = articles;
    list.replaceChildren();
    list.dataset.query = q; // what the list shows the answer to
    if (!articles.length) {
      list.append(Object.assign(document.createElement("li"), { className: "muted faq-empty", textContent: error || texts.no_articles }));
      return;
    }
    articles.forEach((a, i) => {
      const li = Object.assign(document.createElement("li"), { className: "faq-item" });
      li.dataset.index = i;
      li.dataset.article = a.id;
      const title = Object.assign(document.createElement("p"), { className: "faq-item__title" });
      title.append(Object.assign(document.createElement("strong"), { textContent: a.title }));
      if (a.internal) title.append(" ", Object.assign(document.createElement("span"), { className: "badge badge--internal", textContent: texts.faq_internal }));
      const summary = Object.assign(document.createElement("p"), { className: "faq-item__summary", textContent: a.summary });
      const actions = Object.assign(document.createElement("div"), { className: "faq-item__actions" });
      if (a.url) actions.append(button("send", texts.faq_send));
      actions.append(button("paste", texts.faq_paste));
      li.append(title, summary, actions);
      list.append(li);
    });
  }

  function button(action, label) {
    const b = Object.assign(document.createElement("button"), { type: "button", textContent: label });
    b.dataset.faq = action;
    return b;
  }

  function open() {
    closeOthers();
    picker.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    search.focus();
    load(search.value.trim());
  }

  function close() {
    picker.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  }

  function paste(text) {
    const at = input.selectionStart ?? input.value.length, end = input.selectionEnd ?? at;
    const before = input.value.slice(0, at), gap = before && !before.endsWith("\n") ? "\n" : "";
    input.value = before + gap + text + input.value.slice(end);
    input.selectionStart = input.selectionEnd = (before + gap + text).length;
  }

  toggle.addEventListener("click", () => (picker.hidden ? open() : close()));
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(search.value.trim()), 250);
  });
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { // search now; never submit the reply form
      e.preventDefault();
      clearTimeout(timer);
      load(search.value.trim());
    } else if (e.key === "Escape") {
      close();
      input.focus();
    }
  });
  list.addEventListener("click", (e) => {
    const b = e.target.closest("[data-faq]");
    if (!b) return;
    const a = shown[Number(b.closest("[data-index]").dataset.index)];
    if (!a) return;
    if (b.dataset.faq === "send" && a.url) send(a.summary, { msg_type: "article", attachments: [{ url: a.url, name: a.title }] });
    else paste(a.answer);
    close();
    input.focus();
  });
  return { close };
}
