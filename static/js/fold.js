// "Show all" on a folded response: fetch the whole text (rendered by the server's one
// sanitising renderer) and put it in place of the beginning. Without JavaScript the link
// opens a page with the whole response.
(function () {
  "use strict";
  for (const link of document.querySelectorAll("a.show-all")) {
    link.addEventListener("click", async (event) => {
      const target = document.getElementById(link.dataset.target);
      if (!target) return;
      event.preventDefault();
      link.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(link.href + "?fragment=1", { credentials: "same-origin" });
        if (!response.ok) throw new Error(String(response.status));
        // The server's sanitised HTML, the same as the page's own (labelling.rendering).
        target.innerHTML = await response.text();
        link.parentElement.remove();
        target.focus();
      } catch (error) {
        window.location.href = link.href;
      }
    });
  }
})();
