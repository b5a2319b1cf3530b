// The one watcher of background jobs (exports, scoring runs, the dashboard's figures).
// Every element with data-job-url and a queued or running data-status is asked about its
// job: a <progress> and a .progress-text inside it follow the job's progress, and the
// page reloads when any of them ends, to show what it made (or why it failed). Asks
// every second and a half, every ten seconds after a minute: a big job takes a while.
(function () {
  "use strict";
  const busy = (status) => status === "queued" || status === "running";
  const boxes = Array.from(document.querySelectorAll("[data-job-url]")).filter((box) =>
    busy(box.dataset.status),
  );
  if (!boxes.length) return;
  const started = Date.now();

  function show(box, progress) {
    if (!progress) return;
    const bar = box.querySelector("progress");
    const text = box.querySelector(".progress-text");
    if (bar) {
      bar.max = Math.max(progress.total, 1);
      bar.value = progress.done;
    }
    if (text) text.textContent = `${progress.done} / ${progress.total}`;
  }

  async function poll() {
    let ended = false;
    for (const box of boxes) {
      try {
        const response = await fetch(box.dataset.jobUrl, { headers: { Accept: "application/json" } });
        if (!response.ok) continue;
        const state = await response.json();
        show(box, state.progress);
        if (!busy(state.status)) ended = true;
      } catch (error) {
        // A dropped request is retried on the next tick.
      }
    }
    if (ended) {
      window.location.reload();
      return;
    }
    setTimeout(poll, Date.now() - started > 60000 ? 10000 : 1500);
  }
  setTimeout(poll, 1500);
})();
