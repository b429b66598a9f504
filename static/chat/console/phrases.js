// The personal quick phrase form: the attachment goes through the chat upload endpoint
// (POST /api/v1/uploads) and its answer is kept as JSON in a hidden input; deleting asks first.
import { request } from "./http.js";

const form = document.getElementById("phrase-form");
if (form) {
  const hidden = form.querySelector("#id_attachment");
  const file = form.querySelector("#phrase-file");
  const current = form.querySelector("#phrase-attachment-name");
  const error = form.querySelector("#id_attachment_error");
  const submit = form.querySelector("button[type=submit]");

  function show(attachment) {
    hidden.value = attachment ? JSON.stringify(attachment) : "";
    current.hidden = !attachment;
    current.querySelector("span").textContent = attachment ? attachment.name : "";
  }

  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    const data = new FormData();
    data.append("file", chosen);
    error.textContent = "";
    submit.disabled = true;
    try {
      show(await request("POST", "/api/v1/uploads", data));
    } catch (e) {
      error.textContent = e.message;
    } finally {
      file.value = "";
      submit.disabled = false;
    }
  });
  form.querySelector("#phrase-attachment-remove").addEventListener("click", () => show(null));
}

document.querySelector("form[data-confirm]")?.addEventListener("submit", (e) => {
  if (!confirm(e.currentTarget.dataset.confirm)) e.preventDefault();
});
