// "Tick every prompt on this page": a box shown only with script, which ticks or clears
// the form's boxes of the same name and follows them when they are ticked one by one.
(function () {
  "use strict";
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    var form = all.form;
    var name = all.getAttribute("data-select-all");
    var boxes = form ? Array.prototype.slice.call(form.querySelectorAll('input[name="' + name + '"]')) : [];
    if (!boxes.length) return;
    all.closest("[hidden]") && all.closest("[hidden]").removeAttribute("hidden");
    function follow() {
      var ticked = boxes.filter(function (b) { return b.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
    });
    boxes.forEach(function (b) { b.addEventListener("change", follow); });
    follow();
  });
})();
