// The help center's few behaviours, on top of pages that work without them:
// instant search results while typing, "was this helpful?" in place, and "Contact us"
// opening the chat widget on this page (the article becomes the conversation's entry page).

const debounce = (fn, ms) => {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
};

// The server sends snippets as escaped text with <mark> around the matches. Copy exactly
// that (text and <mark>) into the page, never as markup.
function snippet(html) {
  const fragment = document.createDocumentFragment();
  const parsed = new DOMParser().parseFromString(String(html || ""), "text/html"); // inert: nothing runs or loads
  for (const node of parsed.body.childNodes) {
    if (node.nodeName === "MARK") {
      const mark = document.createElement("mark");
      mark.textContent = node.textContent;
      fragment.append(mark);
    } else fragment.append(node.textContent);
  }
  return fragment;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// --- instant search -----------------------------------------------------------------------
for (const form of document.querySelectorAll("form[data-instant]")) {
  const input = form.querySelector("input[name=q]");
  const box = document.getElementById(form.dataset.results);
  let controller = null;

  const close = () => { box.hidden = true; box.replaceChildren(); };
  const show = (data) => {
    box.replaceChildren();
    if (!data.results.length) box.append(element("p", "", form.dataset.empty));
    else {
      const list = element("ul");
      for (const r of data.results) {
        const link = element("a");
        link.href = r.url;
        link.lang = r.locale === "zh-hans" ? "zh-Hans" : r.locale === "zh-hant" ? "zh-Hant" : "en";
        link.append(element("span", "hc-hit-title", r.title));
        const text = element("span", "hc-hit-snippet");
        text.append(snippet(r.snippet));
        link.append(text);
        const item = element("li");
        item.append(link);
        list.append(item);
      }
      const all = element("a", "hc-all", form.dataset.all);
      all.href = `${form.action}?${new URLSearchParams({ q: data.query })}`;
      const item = element("li");
      item.append(all);
      list.append(item);
      box.append(list);
    }
    box.hidden = false;
  };
  const run = debounce(async () => {
    const q = input.value.trim().split(/\s+/).join(" ");
    controller?.abort();
    if (!q) return close();
    controller = new AbortController();
    try {
      const response = await fetch(`${form.dataset.instant}?${new URLSearchParams({ q })}`,
        { signal: controller.signal, headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      if (input.value.trim().split(/\s+/).join(" ") === data.query) show(data);
    } catch (e) {
      if (e.name !== "AbortError") close();
    }
  }, 250);

  input.addEventListener("input", (e) => { if (!e.isComposing) run(); });
  input.addEventListener("compositionend", run); // Chinese IMEs: search the characters, not the pinyin
  input.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
  document.addEventListener("click", (e) => { if (!form.contains(e.target)) close(); });
}

// --- "was this helpful?" --------------------------------------------------------------------
for (const form of document.querySelectorAll("form[data-vote]")) {
  form.addEventListener("submit", async (e) => {
    const button = e.submitter;
    if (!button || !button.value) return;
    e.preventDefault();
    const buttons = form.querySelectorAll("button");
    const error = form.querySelector("[data-vote-error]");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
        body: JSON.stringify({ helpful: button.value === "yes" }),
      });
      if (!response.ok) throw new Error(String(response.status));
      form.querySelector("fieldset").hidden = true;
      form.querySelector("[data-vote-thanks]").hidden = false;
      error.textContent = "";
    } catch {
      error.textContent = form.dataset.error;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

// --- "Contact us" ---------------------------------------------------------------------------
// With the widget loaded the chat opens in place, this page reported as the visit; without
// it (blocked, failed) the form opens the full-page chat with this page as context.
let widgetReady = false;
addEventListener("message", (e) => {
  const frame = document.querySelector("[data-helpdesk-frame]");
  if (e.origin === location.origin && frame && e.source === frame.contentWindow && e.data?.helpdesk === 1 && e.data.type === "ready") {
    widgetReady = true;
  }
});

for (const form of document.querySelectorAll("form[data-contact]")) {
  form.addEventListener("submit", (e) => {
    const widget = window.Helpdesk;
    if (!widget || !widget.version) return;
    e.preventDefault();
    widget.page(location.href, document.title);
    widget.open();
    if (!widgetReady) {
      setTimeout(() => { if (!widgetReady) { widget.close(); form.submit(); } }, 6000);
    }
  });
}
