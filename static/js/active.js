// Active time (issue 18, point 9): the seconds this item was on screen and in use, for
// the rater report. A second counts while the page is visible and the rater gave some
// input (a key, the pointer, a scroll) in the last minute; reading without touching
// anything for longer counts as away. The count survives a reload in this tab and goes
// with the form as `active_seconds`; the server keeps it beside its own lease-to-submit
// time and never lets it exceed that.
(function () {
  "use strict";

  const field = document.getElementById("active-seconds");
  // A read-only item (no draft URL, no assignment on the form) has nothing to time.
  if (!field || !field.form || !field.form.dataset.assignment) return;
  const IDLE = 60 * 1000;
  const key = "rlhf-active:" + field.form.dataset.assignment;
  let stored = 0;
  try {
    stored = parseInt(sessionStorage.getItem(key) || "0", 10) || 0;
  } catch (error) {
    // Storage refused: count from this page view.
  }
  let milliseconds = Math.max(stored, parseInt(field.value || "0", 10) || 0) * 1000;
  let lastInput = Date.now();
  let lastTick = Date.now();

  const touched = () => {
    lastInput = Date.now();
  };
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "scroll", "input", "touchstart"]) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  }

  function write() {
    field.value = String(Math.floor(milliseconds / 1000));
    try {
      sessionStorage.setItem(key, field.value);
    } catch (error) {
      // The field still carries it.
    }
  }

  write();
  setInterval(() => {
    const now = Date.now();
    // A throttled or suspended timer does not add the time it slept.
    const step = Math.min(now - lastTick, 2000);
    lastTick = now;
    if (document.visibilityState === "visible" && now - lastInput < IDLE) {
      milliseconds += step;
      write();
    }
  }, 1000);

  field.form.addEventListener("submit", () => {
    write();
    try {
      sessionStorage.removeItem(key); // a page with errors comes back with the count
    } catch (error) {
      // Nothing kept, nothing to clear.
    }
  });
})();
