// 会话记录: on a wide screen the filters start open; empty fields stay out of the address
// (shorter links to share, and the export link repeats exactly the search shown).
const form = document.querySelector(".history-filters");
const more = form?.querySelector(".history-more");
if (more && window.matchMedia("(min-width: 1024px)").matches) more.open = true;
form?.addEventListener("submit", () => {
  for (const field of form.querySelectorAll("input[name], select[name]")) {
    if (!field.value) field.disabled = true;
  }
  setTimeout(() => { for (const field of form.querySelectorAll("[disabled]")) field.disabled = false; }, 0);
});
