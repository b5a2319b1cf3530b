// The qualification form: Enter on a rank answers, as Enter saves on the labelling page
// (a select alone would not submit its form).
(() => {
  const form = document.getElementById("qualify-form");
  if (!form) return;
  form.addEventListener("keydown", (event) => {
    // Once per press: a held key repeats, and a second answer would land on the next item.
    if (event.key === "Enter" && !event.repeat && event.target instanceof HTMLSelectElement) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
