// The criteria builder (issue 17, point 1). Without script it is a formset: an "Add a
// criterion" button that posts for one more row, order numbers and "Remove" boxes.
// With script: rows are added in place, moved with up and down buttons (the order
// numbers follow), removed with a button; every change is announced to screen readers.
(function () {
  "use strict";
  const rows = document.querySelector("[data-criteria-rows]");
  if (!rows) return;
  const prefix = rows.dataset.prefix;
  const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
  const template = document.getElementById("criterion-template");
  const announce = document.getElementById("criteria-announce");
  const addButton = document.querySelector(".add-criterion");

  const visible = () => Array.from(rows.querySelectorAll("[data-criterion-row]")).filter((r) => !r.hidden);
  const nameOf = (row) => row.querySelector('input[name$="-label"]').value.trim() || "A new criterion";
  const say = (text) => { announce.textContent = ""; window.setTimeout(() => { announce.textContent = text; }, 50); };

  function renumber() {
    const shown = visible();
    shown.forEach((row, i) => {
      row.querySelector('input[name$="-ORDER"]').value = String(i + 1);
      row.querySelector(".move-up").disabled = i === 0;
      row.querySelector(".move-down").disabled = i === shown.length - 1;
    });
  }

  function enhance(row) {
    row.querySelector(".order-field").hidden = true;
    for (const button of row.querySelectorAll(".move-up, .move-down")) button.hidden = false;
    const box = row.querySelector('input[name$="-DELETE"]');
    if (box && box.checked) row.hidden = true; // removed before a page that came back
    if (box) {
      const label = box.closest("label");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove-criterion";
      remove.textContent = label.textContent.trim();
      label.hidden = true;
      label.after(remove);
    }
  }

  rows.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const row = button.closest("[data-criterion-row]");
    const shown = visible();
    const at = shown.indexOf(row);
    if (button.classList.contains("move-up") && at > 0) {
      rows.insertBefore(row, shown[at - 1]);
    } else if (button.classList.contains("move-down") && at < shown.length - 1) {
      rows.insertBefore(shown[at + 1], row);
    } else if (button.classList.contains("remove-criterion")) {
      row.querySelector('input[name$="-DELETE"]').checked = true;
      row.hidden = true;
      renumber();
      say(`${nameOf(row)} removed.`);
      const next = visible()[Math.min(at, visible().length - 1)];
      (next ? next.querySelector(".remove-criterion") : addButton)?.focus();
      return;
    } else {
      return;
    }
    renumber();
    // At an end of the list the button just used is disabled: keep the focus on the row.
    const other = row.querySelector(button.classList.contains("move-up") ? ".move-down" : ".move-up");
    (button.disabled ? other : button).focus();
    say(`${nameOf(row)} moved to position ${visible().indexOf(row) + 1} of ${visible().length}.`);
  });

  if (addButton) {
    addButton.addEventListener("click", (event) => {
      event.preventDefault();
      const index = Number(total.value);
      const html = template.innerHTML.replaceAll("__prefix__", String(index));
      const holder = document.createElement("ol");
      holder.innerHTML = html;
      const row = holder.firstElementChild;
      rows.append(row);
      total.value = String(index + 1);
      enhance(row);
      renumber();
      row.querySelector('input[name$="-label"]').focus();
      say(`Criterion ${visible().length} added.`);
    });
  }

  // A page that came back with errors lists the rows as posted: put them in the order
  // their numbers say before the buttons take over the numbering.
  const orderOf = (row) => Number(row.querySelector('input[name$="-ORDER"]').value) || Infinity;
  const posted = Array.from(rows.querySelectorAll("[data-criterion-row]"));
  posted.sort((a, b) => orderOf(a) - orderOf(b)).forEach((row) => rows.append(row));
  for (const row of posted) enhance(row);
  renumber();
})();
