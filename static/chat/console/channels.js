// WeChat channel facts in the console: the retry button of an undelivered message, and the
// delivery line following the `outbound.state` events (connectors/outbound.py). The server
// renders the line (templates/chat/console/_delivery_state.html); this only swaps it in.
import { fragment, request } from "./http.js";

export async function retryOutbound(button) {
  const id = Number(button.dataset.retryMessage);
  button.disabled = true;
  try {
    const { html } = await request("POST", `/channels/console/messages/${id}/retry/`, {}, { html: true });
    button.closest(".msg__delivery")?.replaceWith(fragment(html));
  } catch (err) {
    button.disabled = false;
    throw err;
  }
}

// The bubble of a message whose delivery changed is fetched again (the same partial as the page).
// Returns false when that bubble is not on screen yet.
export function deliveryChanged(frame, messagesEl, rerenderMessage) {
  const li = messagesEl?.querySelector(`[data-message-id="${Number(frame.message_id)}"]`);
  if (!li?.dataset.seq) return false;
  rerenderMessage(Number(li.dataset.seq));
  return true;
}
