// Floorbook's few behaviours. No inline scripts anywhere, so a strict CSP can hold.
(function () {
  "use strict";

  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
  }

  // The user menu (a <details>) closes on Escape and on a click outside it.
  function closeUserMenu(except) {
    var menu = document.querySelector(".user-menu[open]");
    if (menu && !(except && menu.contains(except))) {
      menu.removeAttribute("open");
      return menu;
    }
    return null;
  }
  document.addEventListener("click", function (event) { closeUserMenu(event.target); });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      var closed = closeUserMenu(null);
      if (closed) { closed.querySelector("summary").focus(); return; }
    }
    // "u" on an entry page: used on this call (the page says so on the button).
    if (event.key === "u" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey) {
      var reuse = document.querySelector("article.entry ~ * [data-reuse-button], .entry-footer [data-reuse-button]");
      if (reuse) { event.preventDefault(); reuse.click(); return; }
    }
    var search = document.getElementById("search-input");
    if (!search) return;
    if (event.key === "/" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") &&
               (event.target === search || event.target.closest(".result h2 a"))) {
      // Arrow keys move between the search box and the result titles.
      var links = Array.prototype.slice.call(document.querySelectorAll("#results .result h2 a"));
      if (!links.length) return;
      var at = links.indexOf(event.target);
      var next = event.key === "ArrowDown" ? at + 1 : at - 1;
      if (event.target === search && event.key === "ArrowUp") return;
      event.preventDefault();
      if (next < 0) search.focus();
      else links[Math.min(next, links.length - 1)].focus();
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

  // Live search: a refused search (400) shows its message; a failed one shows a notice
  // instead of leaving the previous results on screen as if they matched.
  function searchFailed(text) {
    return '<div class="notice error" role="alert"><p>' + text + "</p></div>";
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (!detail.target || detail.target.id !== "results") return;
    var status = detail.xhr.status;
    if (status === 400) {
      detail.shouldSwap = true;
    } else if (status >= 500) {
      detail.shouldSwap = true;
      detail.serverResponse = searchFailed("The search failed on the server (error " + status +
        "). Try different words, or press Enter to try again.");
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var results = document.getElementById("results");
    if (results && event.detail.target === results) {
      results.innerHTML = searchFailed("Floorbook cannot be reached. Check your connection and press Enter to try again.");
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
