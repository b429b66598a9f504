// The status switch (online / busy / away / offline) in the top bar of every console page.
import { request } from "./http.js";

export function initStatusSwitch(onChange = () => {}) {
  const select = document.getElementById("status-select");
  if (!select) return;
  select.addEventListener("change", async () => {
    const previous = select.dataset.status;
    try {
      const r = await request("POST", "/console/status/", { status: select.value });
      select.dataset.status = r.status;
      onChange(r.status);
    } catch (e) {
      select.value = previous;
      alert(e.message);
    }
  });
}

export function showStatus(status) {
  const select = document.getElementById("status-select");
  if (select && status) {
    select.value = status;
    select.dataset.status = status;
  }
}

if (!document.querySelector('script[src*="console.js"]')) initStatusSwitch();
