// 黑名单: block a customer from their panel, lift a block (panel or the blocklist page).
// The server renders the section again (the same partial as the first page).
import { request, fragment } from "./http.js";

function showError(el, err) {
  const slot = el.closest(".block-box, .blocklist-page")?.querySelector(".form-error");
  if (slot) slot.textContent = err.message;
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest('[data-form="block-customer"]');
  if (!form) return;
  e.preventDefault();
  try {
    const { html } = await request("POST", `/console/customers/${form.dataset.customer}/block/`, {
      reason: form.elements.reason.value, days: Number(form.elements.days.value), with_address: form.elements.with_address.checked,
    }, { html: true });
    form.closest(".block-box").replaceWith(fragment(html));
  } catch (err) {
    showError(form, err);
  }
});

document.addEventListener("click", async (e) => {
  const button = e.target.closest('[data-action="lift-block"]');
  if (!button) return;
  try {
    if (button.dataset.from === "list") {
      const { html } = await request("POST", `/console/blocks/${button.dataset.block}/lift/?from=list`, {}, { html: true });
      document.getElementById("blocklist").replaceChildren(fragment(html));
    } else {
      const { html } = await request("POST", `/console/blocks/${button.dataset.block}/lift/`, {}, { html: true });
      button.closest(".block-box").replaceWith(fragment(html));
    }
  } catch (err) {
    showError(button, err);
  }
});
