// Watch the exports that are queued or running: update their progress every second and a
// half, and reload the page when one finishes (to show its files and manifest).
(function () {
  "use strict";
  const busy = (status) => status === "queued" || status === "running";
  const rows = Array.from(document.querySelectorAll(".export-row")).filter((row) =>
    busy(row.dataset.status),
  );
  if (!rows.length) return;
  async function poll() {
    let finished = false;
    for (const row of rows) {
      try {
        const response = await fetch(row.dataset.url, { headers: { Accept: "application/json" } });
        if (!response.ok) continue;
        const state = await response.json();
        const bar = row.querySelector("progress");
        const text = row.querySelector(".progress-text");
        if (bar) {
          bar.max = Math.max(state.progress.total, 1);
          bar.value = state.progress.done;
        }
        if (text) text.textContent = `${state.progress.done} / ${state.progress.total}`;
        if (!busy(state.status)) finished = true;
      } catch (error) {
        // A dropped request is retried on the next tick.
      }
    }
    if (finished) {
      window.location.reload();
      return;
    }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1000);
})();
