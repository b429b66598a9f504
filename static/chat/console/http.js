// Small fetch helpers for the console: CSRF header, JSON errors as exceptions with a message.

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export class RequestError extends Error {
  constructor(message, code, status) {
    super(message);
    Object.assign(this, { code, status });
  }
}

export async function request(method, url, data, { html = false } = {}) {
  const headers = { "X-CSRFToken": csrfToken(), Accept: html ? "text/html" : "application/json" };
  let body;
  if (data instanceof FormData) body = data;
  else if (data !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(data);
  }
  const r = await fetch(url, { method, headers, body, credentials: "same-origin" });
  if (!r.ok) {
    let message = r.statusText, code = "http_" + r.status;
    try {
      const err = (await r.json()).error || {};
      message = err.message || message;
      code = err.code || code;
    } catch { /* not JSON */ }
    throw new RequestError(message, code, r.status);
  }
  if (r.status === 204) return null;
  return html ? { html: await r.text(), headers: r.headers } : r.json();
}

export function fragment(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content;
}
