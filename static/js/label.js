// The labelling page: rank by dragging or by keyboard, ties, a lease timer, Enter to save.
// The per-response rank selects are what the server reads; this script only keeps them
// in step with the ranking list, so the form works the same without JavaScript.
(function () {
  "use strict";

  const form = document.getElementById("label-form");
  if (!form) return;
  const list = document.getElementById("rank-list");
  const allowTies = form.dataset.allowTies === "true";
  const selectFor = (id) => form.querySelector('.rank-select[data-id="' + id + '"]');
  const items = () => Array.from(list.children);
  let touched = false;

  document.getElementById("ranker").hidden = false;

  function setTie(item, on) {
    item.classList.toggle("tied", on);
    const button = item.querySelector(".tie");
    if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  // Group numbers from the list: each item starts a new group unless tied to the one above.
  function groups() {
    let group = 0;
    return items().map((item, index) => {
      if (index === 0) setTie(item, false);
      if (!item.classList.contains("tied")) group += 1;
      return [item, group];
    });
  }

  // Screen readers hear each response's place, and every move.
  const announcer = document.getElementById("rank-announce");
  const say = (template, values) => {
    if (!announcer || !template) return;
    announcer.textContent = template.replace(/%\((\w+)\)s/g, (_m, name) => String(values[name]));
  };
  const placeOf = (item) => {
    const found = groups().find(([other]) => other === item);
    return found ? found[1] : 0;
  };

  function render() {
    const n = items().length;
    for (const [item, group] of groups()) {
      item.querySelector(".pos").textContent = touched ? String(group) : "–";
      if (touched) {
        selectFor(item.dataset.id).value = String(group);
        if (!announcer) continue;
        const template = item.classList.contains("tied") ? announcer.dataset.itemTied : announcer.dataset.item;
        item.setAttribute("aria-label", template.replace(/%\((\w+)\)s/g, (_m, name) =>
          String({ letter: item.dataset.label, pos: group, n: n }[name])));
      }
    }
    list.classList.toggle("untouched", !touched);
  }

  function changed() {
    touched = true;
    render();
    // Setting a select from script fires no event: say so, for the draft (draft.js).
    form.dispatchEvent(new Event("labels-changed"));
  }

  // The selects, when set (a reopened annotation, a page shown again with errors, or a
  // keyboard user changing one), decide the list's order and ties.
  function fromSelects() {
    const rank = (item) => {
      const value = parseInt(selectFor(item.dataset.id).value, 10);
      return Number.isNaN(value) ? Infinity : value;
    };
    const ordered = items()
      .map((item, index) => [item, index])
      .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
      .map((pair) => pair[0]);
    let previous = null;
    for (const item of ordered) {
      list.appendChild(item);
      setTie(item, allowTies && previous !== null && rank(item) !== Infinity && rank(item) === rank(previous));
      previous = item;
    }
    touched = items().every((item) => rank(item) !== Infinity);
    render();
  }

  function moveTo(item, index) {
    const others = items().filter((other) => other !== item);
    index = Math.max(0, Math.min(index, others.length));
    setTie(item, false);
    list.insertBefore(item, others[index] || null);
    const next = item.nextElementSibling;
    if (next) setTie(next, false);
    item.focus();
    changed();
    say(announcer && announcer.dataset.moved, {
      letter: item.dataset.label, pos: placeOf(item), n: items().length,
    });
  }

  function toggleTie(item) {
    setTie(item, !item.classList.contains("tied"));
    changed();
    const above = item.previousElementSibling;
    if (!announcer) return;
    if (item.classList.contains("tied") && above) {
      say(announcer.dataset.tied, { letter: item.dataset.label, other: above.dataset.label, pos: placeOf(item) });
    } else {
      say(announcer.dataset.untied, { letter: item.dataset.label, pos: placeOf(item), n: items().length });
    }
  }

  // Typing the letters best first: each goes to the next place; the last falls into place.
  let placed = 0;
  list.addEventListener("focusin", (event) => {
    if (!list.contains(event.relatedTarget)) placed = 0;
  });
  function placeNext(letter) {
    const item = items().find((other) => other.dataset.label === letter);
    if (!item) return false;
    const before = items().slice(0, placed);
    if (before.includes(item)) return true; // already placed this round
    moveTo(item, placed);
    placed += 1;
    if (placed >= items().length - 1) placed = 0;
    return true;
  }

  list.addEventListener("keydown", (event) => {
    const item = event.target.closest(".rank-item");
    if (!item) return;
    const index = items().indexOf(item);
    if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      event.preventDefault();
      if (event.altKey || event.shiftKey) {
        const sibling = event.key === "ArrowUp" ? item.previousElementSibling : item.nextElementSibling;
        if (sibling) sibling.focus();
      } else {
        moveTo(item, event.key === "ArrowUp" ? index - 1 : index + 1);
      }
    } else if (/^[1-9]$/.test(event.key)) {
      event.preventDefault();
      moveTo(item, parseInt(event.key, 10) - 1);
    } else if ((event.key === "t" || event.key === "T") && allowTies && index > 0) {
      event.preventDefault();
      toggleTie(item);
    } else if (/^[a-iA-I]$/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (placeNext(event.key.toUpperCase())) {
        event.preventDefault();
        event.stopPropagation(); // a letter here names a response, not a shortcut
      }
    }
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".tie");
    if (!button) return;
    const item = button.closest(".rank-item");
    if (items().indexOf(item) > 0) toggleTie(item);
  });

  if (window.Sortable) {
    window.Sortable.create(list, {
      animation: 120,
      onEnd: (event) => {
        setTie(event.item, false);
        const next = event.item.nextElementSibling;
        if (next) setTie(next, false);
        changed();
      },
    });
  }

  for (const select of form.querySelectorAll(".rank-select")) {
    select.addEventListener("change", fromSelects);
  }

  // Enter saves (and the server opens the next item); in a text box, Ctrl/Cmd+Enter.
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    const tag = event.target.tagName;
    if (tag === "TEXTAREA" && !(event.ctrlKey || event.metaKey)) return;
    if (tag === "BUTTON" || tag === "A") return;
    event.preventDefault();
    form.requestSubmit();
  });

  // The lease timer.
  const timer = document.getElementById("lease-timer");
  // On a phone the side column is far below: a strip at the top keeps the time in view.
  const strip = document.getElementById("lease-timer-strip");
  const mirror = (state) => {
    if (!strip) return;
    strip.textContent = timer.textContent;
    strip.className = "timer-strip" + (state ? " " + state : "");
  };
  const expiresAt = Date.parse(form.dataset.expiresAt);
  if (timer && !Number.isNaN(expiresAt)) {
    const tick = () => {
      const left = Math.round((expiresAt - Date.now()) / 1000);
      if (left <= 0) {
        timer.textContent = timer.dataset.expired || "Time is up: save now if you can.";
        timer.classList.add("expired");
        mirror("expired");
        return;
      }
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      timer.textContent = minutes + ":" + seconds + " " + (timer.dataset.left || "left");
      timer.classList.toggle("low", left < 120);
      mirror(left < 120 ? "low" : "");
      window.setTimeout(tick, 1000);
    };
    tick();
  }

  fromSelects();
  // A page with errors is focused on them by errors.js; otherwise the ranking starts.
  if (!document.getElementById("form-errors") && list.firstElementChild) {
    list.firstElementChild.focus();
  }
})();
