// The labelling page's keyboard shortcuts (listed in the "?" dialog): R ranking, S the
// first rating not given, digits on a rating give it and go on, C the critique, Esc out
// of a text box, ? the list. The ranking's own keys are label.js's.
(function () {
  "use strict";

  const form = document.getElementById("label-form");
  const dialog = document.getElementById("shortcuts");
  if (!form || !dialog) return;
  const opener = document.getElementById("shortcuts-open");
  const groups = () => Array.from(form.querySelectorAll("[data-rating]"));
  const radios = (group) => Array.from(group.querySelectorAll('input[type="radio"]'));
  let negative = false;

  function focusGroup(group) {
    if (!group) {
      document.getElementById("submit").focus();
      return;
    }
    const choices = radios(group);
    (choices.find((r) => r.checked) || choices[0]).focus();
  }

  function typing(target) {
    return (
      target.isContentEditable ||
      target.tagName === "TEXTAREA" ||
      target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && !["radio", "checkbox"].includes(target.type))
    );
  }

  form.addEventListener("focusin", () => { negative = false; });

  function rate(radio, digit) {
    const group = radio.closest("[data-rating]");
    const choices = radios(group);
    const values = choices.map((r) => parseInt(r.value, 10));
    let value = negative ? -digit : digit;
    if (digit === 0 && !values.includes(0) && values.includes(10)) value = 10;
    negative = false;
    const chosen = choices.find((r) => parseInt(r.value, 10) === value);
    if (!chosen) return;
    chosen.checked = true;
    chosen.dispatchEvent(new Event("change", { bubbles: true }));
    const all = groups();
    focusGroup(all[all.indexOf(group) + 1]);
  }

  function critique() {
    const card = document.activeElement && document.activeElement.closest(".response");
    const box =
      (card && card.querySelector("textarea")) ||
      Array.from(form.querySelectorAll(".response textarea")).find((t) => !t.value.trim());
    if (box) box.focus();
  }

  function open() {
    if (!dialog.open) dialog.showModal();
  }
  if (opener) {
    opener.hidden = false;
    opener.addEventListener("click", open);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.isComposing || event.keyCode === 229) return; // an input method at work
    if (dialog.open) return; // the dialog closes itself on Esc
    const target = event.target;
    if (typing(target)) {
      if (event.key === "Escape" && target.tagName === "TEXTAREA") {
        event.preventDefault();
        document.getElementById("submit").focus();
      }
      return;
    }
    const onRating = target.type === "radio" && target.closest("[data-rating]");
    if (onRating && /^[0-9]$/.test(event.key)) {
      event.preventDefault();
      rate(target, parseInt(event.key, 10));
      return;
    }
    if (onRating && event.key === "-") {
      event.preventDefault();
      negative = true;
      return;
    }
    negative = false; // a minus counts for the digit right after it only
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      open();
    } else if (key === "r" || key === "R") {
      event.preventDefault();
      const list = document.getElementById("rank-list");
      if (list && list.firstElementChild) list.firstElementChild.focus();
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      const all = groups();
      focusGroup(all.find((g) => !radios(g).some((r) => r.checked)) || all[0]);
    } else if (key === "c" || key === "C") {
      event.preventDefault();
      critique();
    }
  });
})();
