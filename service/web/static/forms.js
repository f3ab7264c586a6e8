// Progressive enhancement for forms rendered by service/web/templates/_form.html.
// 1. Fields required only under a condition (data-show-when) are shown only while it holds; hidden
//    fields are disabled, so nothing hidden is submitted. Without JavaScript every field is shown
//    and the server still decides.
// 2. After a failed submit, focus moves to the error summary so screen readers announce it.
(function () {
  "use strict";

  function valuesOf(form, name) {
    var inputs = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    var values = [];
    inputs.forEach(function (input) {
      if (input.disabled) { return; }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { values.push(input.value); }
        else if (input.type === "checkbox" && inputs.length === 1) { values.push("false"); }
      } else if (input.value !== "") {
        values.push(input.value);
      }
    });
    return values;
  }

  function holds(form, alternatives) {
    return alternatives.some(function (alternative) {
      return Object.keys(alternative).every(function (name) {
        var current = valuesOf(form, name);
        return current.some(function (value) { return alternative[name].indexOf(value) !== -1; });
      });
    });
  }

  function update(form) {
    // Conditions may chain (a field shown by a field that is itself conditional): settle them.
    for (var pass = 0; pass < 4; pass++) {
      var changed = false;
      form.querySelectorAll("[data-show-when]").forEach(function (wrapper) {
        var show = holds(form, JSON.parse(wrapper.getAttribute("data-show-when")));
        if (wrapper.hidden === show) {
          wrapper.hidden = !show;
          wrapper.querySelectorAll("input, select, textarea, button").forEach(function (el) {
            el.disabled = !show;
          });
          changed = true;
        }
      });
      if (!changed) { break; }
    }
  }

  document.querySelectorAll("form[data-conditional-form]").forEach(function (form) {
    update(form);
    form.addEventListener("change", function () { update(form); });
    form.addEventListener("input", function () { update(form); });
  });

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
