// The inbox admin's widget editor: the preview follows the form as the owner types (colour, title,
// avatar, greeting, button text, side); the embed code gets this site's address; copy buttons copy.
import { applyTheme } from "../widget/theme.js";

const preview = document.querySelector("[data-widget-preview]");
const field = (name) => document.querySelector(`[name="${name}"]`);

function refresh() {
  if (!preview) return;
  const color = field("widget_color")?.value;
  applyTheme(preview, color);
  const title = field("widget_title")?.value.trim() || field("name")?.value.trim() || "";
  preview.querySelector("[data-preview-title]").textContent = title;
  const greeting = field("widget_greeting")?.value.trim();
  if (greeting) preview.querySelector("[data-preview-greeting]").textContent = greeting;
  const caption = field("widget_launcher_text")?.value.trim() || "";
  preview.querySelector("[data-preview-caption]").textContent = caption;
  preview.querySelector("[data-preview-caption]").hidden = !caption;
  const side = document.querySelector('[name="widget_position"]:checked')?.value || "right";
  preview.querySelector("[data-preview-launcher]").dataset.position = side;
}

document.querySelectorAll('[name^="widget_"], [name="name"]').forEach((el) => el.addEventListener("input", refresh));
document.querySelectorAll('[name="widget_position"]').forEach((el) => el.addEventListener("change", refresh));
refresh();

// The avatar: a chosen file shows at once (an object URL, nothing uploaded before saving); ticking
// "remove" hides it; neither: the saved picture, or none.
const avatarImg = preview?.querySelector("[data-preview-avatar]");
const avatarInput = document.querySelector("[data-avatar-input]");
const avatarRemove = document.querySelector("[data-avatar-remove]");
const savedAvatar = avatarImg?.getAttribute("src") || "";
let chosenUrl = null;

function refreshAvatar() {
  if (!avatarImg) return;
  if (chosenUrl) URL.revokeObjectURL(chosenUrl);
  const file = avatarInput?.files?.[0];
  chosenUrl = file ? URL.createObjectURL(file) : null;
  const shown = chosenUrl || (avatarRemove?.checked ? "" : savedAvatar);
  if (shown) avatarImg.src = shown;
  else avatarImg.removeAttribute("src");
  avatarImg.hidden = !shown;
}

// One or the other: a new picture, or none (the server refuses both at once).
avatarInput?.addEventListener("change", () => {
  if (avatarRemove && avatarInput.files.length) avatarRemove.checked = false;
  refreshAvatar();
});
avatarRemove?.addEventListener("change", () => {
  if (avatarInput && avatarRemove.checked) avatarInput.value = "";
  refreshAvatar();
});

document.querySelectorAll("[data-origin-template]").forEach((pre) => {
  pre.querySelector("code").textContent = pre.dataset.originTemplate.replace("{origin}", location.origin);
});

document.querySelectorAll("[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    const text = button.previousElementSibling.textContent;
    const note = button.parentElement.querySelector("[data-copied]");
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      // no clipboard permission: select the code so the owner can copy it by hand
      const range = document.createRange();
      range.selectNodeContents(button.previousElementSibling);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      return;
    }
    if (note) {
      note.hidden = false;
      setTimeout(() => { note.hidden = true; }, 2000);
    }
  });
});

document.querySelectorAll("[data-reveal]").forEach((button) => {
  button.addEventListener("click", () => {
    const input = button.parentElement.querySelector("[data-secret]");
    input.type = input.type === "password" ? "text" : "password";
  });
});
