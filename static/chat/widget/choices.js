// The bot's tappable choices inside its messages (knowledge/choices.py): 猜你想问 suggestions
// (tapping one sends its title as the customer's message; the bot answers with that article),
// 已解决 / 未解决 after an answer (POST …/bot-feedback, once), and 转人工 (POST …/handoff).
// 留下联系方式 (choice "contact", under the line saying nobody can answer now) opens a small form
// (on.contactForm). Labels are inserted as text, never as HTML.

export const isChoice = (a) => Boolean(a && a.choice);

// A <div> of buttons for the message's choices, or null. `on` has ask(title),
// feedback(message, resolved) -> Promise, handoff(conversationId) -> Promise.
export function choiceButtons(m, on) {
  if (m.recalled || m.sender?.kind !== "bot") return null;
  const items = (m.attachments || []).filter(isChoice);
  if (!items.length) return null;
  const box = document.createElement("div");
  box.className = items[0].choice === "ask" ? "w-choices w-choices--ask" : "w-choices";
  const buttons = items.map((a) => {
    const b = Object.assign(document.createElement("button"), { type: "button", className: "w-choice", textContent: a.name });
    b.dataset.choice = a.choice;
    b.addEventListener("click", () => {
      if (a.choice === "ask") return on.ask(a.name);
      if (a.choice === "contact") return void b.replaceWith(on.contactForm(m.conversation_id));
      if (a.choice === "handoff") return void on.handoff(m.conversation_id).then(() => (b.disabled = true), () => {});
      // 已解决 / 未解决: one answer per question; the server keeps the first (a repeat is a no-op).
      for (const other of buttons) other.disabled = true;
      on.feedback(m, a.choice === "resolved").then(
        () => b.setAttribute("aria-pressed", "true"),
        (err) => {
          if (err.code === "feedback_given") return; // answered before (another tab, a reload)
          for (const other of buttons) other.disabled = false;
        },
      );
    });
    return b;
  });
  box.append(...buttons);
  return box;
}
