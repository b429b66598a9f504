// The pre-chat builder shows the questions asked plus one empty row; "Add a question" reveals the next.
// Without this script every row shows (the form works the same).
// Loaded in the page's head with the form's media: runs once the page is parsed.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("table.prechat-rows").forEach((table) => {
    const rows = Array.from(table.tBodies[0].rows);
    const asked = (row) => row.querySelector("select").value !== "" || row.querySelector("input[type=text]").value.trim() !== "";
    const lastAsked = rows.reduce((last, row, n) => (asked(row) ? n : last), -1);
    rows.forEach((row, n) => { row.hidden = n > lastAsked + 1; });
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button prechat-add";
    button.textContent = table.dataset.addLabel;
    const sync = () => { button.hidden = !rows.some((row) => row.hidden); };
    button.addEventListener("click", () => {
      const next = rows.find((row) => row.hidden);
      if (next) { next.hidden = false; next.querySelector("select").focus(); }
      sync();
    });
    table.after(button);
    sync();
  });
});
