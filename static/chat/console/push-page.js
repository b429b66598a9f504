// The notifications page (/console/push/test/): enable push on this device, send a test.
import { enablePush } from "./push.js";

const root = document.getElementById("push-test");
const texts = JSON.parse(document.getElementById("push-texts").textContent);
const status = root.querySelector("[data-push-status]");

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

root.querySelector("[data-enable]").addEventListener("click", async () => {
  const result = await enablePush({ publicKey: root.dataset.publicKey, subscribeUrl: root.dataset.subscribeUrl, csrfToken: cookie("csrftoken") });
  status.textContent = texts[result] || texts.failed;
  if (result === "subscribed") window.setTimeout(() => window.location.reload(), 800);
});

root.querySelector("[data-test]").addEventListener("click", async () => {
  status.textContent = texts.sending;
  try {
    const response = await fetch(root.dataset.testUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": cookie("csrftoken") } });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error ? result.error.message : response.status);
    status.textContent = result.sent + result.failed === 0 ? texts.none : texts.sent.replace("%(sent)s", result.sent).replace("%(failed)s", result.failed);
  } catch (error) {
    status.textContent = texts.failed;
  }
});
