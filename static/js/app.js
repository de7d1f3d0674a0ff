// Records Desk: the little behaviour HTML and htmx do not give us. No inline scripts
// anywhere, so fragments can be swapped freely and a strict CSP works.
(function () {
  "use strict";

  // Buttons and links with data-confirm ask before they act.
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Menus (<details class="menu">) close when you click elsewhere or press Escape.
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details.menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  // A failed request says so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 403 ? "Your role does not allow this."
      : status === 404 ? "That is no longer there."
      : "Something went wrong (" + status + "). Nothing was changed; please try again.";
    showFlash(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showFlash("The server cannot be reached. Check your connection and try again.", "error");
  });

  function showFlash(text, level) {
    var box = document.querySelector(".messages");
    if (!box) {
      box = document.createElement("div");
      box.className = "messages";
      box.setAttribute("role", "status");
      document.querySelector("main").prepend(box);
    }
    var p = document.createElement("p");
    p.className = "message message-" + level;
    p.textContent = text;
    box.appendChild(p);
  }

  // Forms marked data-drop-empty leave empty fields out of the request, so the URL
  // pushed into the history says only what is filtered (?q=oxford, not ?q=oxford&status=…).
  document.addEventListener("htmx:configRequest", function (event) {
    var source = event.detail.elt;
    var form = source && source.closest ? source.closest("form[data-drop-empty]") : null;
    if (!form || event.detail.verb !== "get") return;
    var parameters = event.detail.parameters;
    var names = parameters instanceof FormData ? Array.from(parameters.keys()) : Object.keys(parameters);
    names.forEach(function (name) {
      var value = parameters instanceof FormData ? parameters.get(name) : parameters[name];
      if (value === "" || value === null) {
        if (parameters instanceof FormData) parameters.delete(name); else delete parameters[name];
      }
    });
  });

  // A header checkbox [data-select-all="ids"] ticks every row's box of its table, and
  // the bulk-edit bar says how many rows are ticked.
  function countTicked() {
    var label = document.querySelector("[data-selected-count]");
    if (!label) return;
    var ticked = document.querySelectorAll('input[type=checkbox][name="ids"]:checked').length;
    label.textContent = ticked ? ticked + " ticked" : label.getAttribute("data-none");
  }
  document.addEventListener("change", function (event) {
    var all = event.target.closest ? event.target.closest("[data-select-all]") : null;
    if (all) {
      var name = all.getAttribute("data-select-all");
      all.closest("table").querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
        box.checked = all.checked;
      });
    }
    if (event.target.name === "ids" || all) countTicked();
  });
  document.addEventListener("htmx:afterSettle", countTicked);
  // Links and forms marked data-current-query (the downloads of the records view) carry
  // the query of the view in the address bar, which htmx changes in place as filters,
  // sort and pages change: they take it up then, and again as they are followed.
  function withCurrentQuery(url) {
    var target = new URL(url, window.location.href);
    target.search = window.location.search;
    return target.href;
  }
  function followCurrentQuery() {
    document.querySelectorAll("a[data-current-query]").forEach(function (link) {
      link.href = withCurrentQuery(link.href);
    });
    document.querySelectorAll("form[data-current-query]").forEach(function (form) {
      form.action = withCurrentQuery(form.action);
    });
  }
  ["htmx:pushedIntoHistory", "htmx:replacedInHistory", "htmx:historyRestore"].forEach(function (name) {
    document.addEventListener(name, followCurrentQuery);
  });
  window.addEventListener("popstate", followCurrentQuery);
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-current-query]")) followCurrentQuery();
  }, true);
  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-current-query]")) followCurrentQuery();
  }, true);

  // Server events (HX-Trigger: {"flash": {"text": …, "level": …}}) become messages.
  document.addEventListener("flash", function (event) {
    showFlash(event.detail.text, event.detail.level || "success");
  });
})();
