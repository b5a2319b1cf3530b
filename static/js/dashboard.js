// While the figures are being computed, ask every two seconds and reload when new
// figures are there (or the job failed), so the page never shows a spinner forever.
(function () {
  "use strict";
  const box = document.getElementById("figures-status");
  if (!box) return;
  const busy = (status) => status === "queued" || status === "running";
  if (!busy(box.dataset.status)) return;
  const started = Date.now();
  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const state = await response.json();
        if (!busy(state.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    // Back off after a minute: a big project can take a while.
    setTimeout(poll, Date.now() - started > 60000 ? 10000 : 2000);
  }
  setTimeout(poll, 2000);
})();
