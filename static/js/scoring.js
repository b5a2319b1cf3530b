// While a scoring run is queued or running, show its progress and reload when it ends.
(function () {
  "use strict";
  const box = document.getElementById("scoring");
  if (!box) return;
  const busy = (status) => status === "queued" || status === "running";
  if (!busy(box.dataset.status)) return;
  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const state = await response.json();
        const bar = box.querySelector("progress");
        const text = box.querySelector(".progress-text");
        if (bar) {
          bar.max = Math.max(state.progress.total, 1);
          bar.value = state.progress.done;
        }
        if (text) text.textContent = `${state.progress.done} / ${state.progress.total}`;
        if (!busy(state.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1500);
})();
