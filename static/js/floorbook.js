// Floorbook's few behaviours. No inline scripts anywhere, so a strict CSP can hold.
(function () {
  "use strict";

  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
  }

  document.addEventListener("keydown", function (event) {
    var search = document.getElementById("search-input");
    if (!search) return;
    if (event.key === "/" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "Escape" && event.target === search && search.value) {
      event.preventDefault();
      search.value = "";
      search.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) {
      event.target.form.requestSubmit();
    }
  });

  // "Existing tags" buttons add a tag to the comma-separated tags field.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-tag]");
    if (!button) return;
    var field = document.getElementById(button.dataset.target);
    var tags = field.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
    if (tags.indexOf(button.dataset.addTag) === -1) tags.push(button.dataset.addTag);
    field.value = tags.join(", ");
    field.focus();
  });
})();
