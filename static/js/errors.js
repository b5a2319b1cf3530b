// A page that comes back with errors moves to the first of them and focuses it, so a
// keyboard or screen-reader user lands where the problem is said (issue 17, point 5).
// Error summaries carry data-error-summary; Django marks field errors with .errorlist.
(function () {
  "use strict";
  const first = document.querySelector("[data-error-summary], .errorlist");
  if (!first) return;
  if (!first.hasAttribute("tabindex")) first.setAttribute("tabindex", "-1");
  first.scrollIntoView({ block: "center" });
  first.focus({ preventScroll: true });
})();
