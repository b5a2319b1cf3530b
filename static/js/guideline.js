// Live preview on the guideline editor: the server renders the markdown through the
// same sanitising renderer the annotators' pages use, so the preview is what they see.
(function () {
  "use strict";
  const form = document.getElementById("guideline-form");
  if (!form) return;
  const body = form.querySelector("textarea[name=body]");
  const preview = document.getElementById("preview");
  const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let timer = null;
  let sent = 0;

  async function refresh() {
    const mine = ++sent;
    const data = new FormData();
    data.append("body", body.value);
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
      });
      // Sanitised on the server (markdown-it with HTML off, then nh3).
      if (response.ok && mine === sent) preview.innerHTML = await response.text();
    } catch (error) {
      // Offline or the server restarted: keep the last preview.
    }
  }

  body.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  });
  refresh();
})();
