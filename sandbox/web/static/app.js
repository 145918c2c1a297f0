// Sandbox Cloud's page behaviour. Every page works without it: this only adds the
// countdown, copy buttons and checks a form would otherwise make on the server.
(function () {
  "use strict";

  function remaining(seconds) {
    // As the server's format_remaining: the two largest units, rounded down.
    if (seconds <= 0) return "expired";
    var units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]], parts = [];
    for (var i = 0; i < units.length && parts.length < 2; i++) {
      var n = Math.floor(seconds / units[i][1]);
      if (n > 0 || parts.length) { parts.push(n + units[i][0]); seconds -= n * units[i][1]; }
    }
    return parts.join(" ") + " left";
  }

  function tick() {
    document.querySelectorAll("time.countdown").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("datetime")) - Date.now()) / 1000;
      el.textContent = remaining(Math.floor(left));
      el.classList.toggle("soon", left <= 86400);
    });
  }

  function wire(root) {
    root.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        var text = source.value !== undefined ? source.value : source.textContent;
        navigator.clipboard.writeText(text).then(function () {
          button.firstChild.textContent = "Copied";
        });
      });
    });
    // Destroy stays disabled until the name is typed exactly (the server checks it too).
    root.querySelectorAll("input[data-must-be]").forEach(function (input) {
      var button = input.form.querySelector("button[type=submit]");
      var check = function () { button.disabled = input.value.trim() !== input.getAttribute("data-must-be"); };
      input.addEventListener("input", check);
      check();
    });
    // The TTL a template allows, checked as one types (the server decides).
    var form = root.querySelector("#request-form");
    if (form) {
      var ttl = form.querySelector("#ttl");
      var seconds = function (text) {
        var total = 0, sizes = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
        (text.toLowerCase().match(/\d+[smhdw]/g) || []).forEach(function (part) {
          total += parseInt(part, 10) * sizes[part.slice(-1)];
        });
        return total;
      };
      var check = function () {
        var chosen = form.querySelector("input[name=template]:checked");
        ttl.setCustomValidity("");
        if (!chosen || !ttl.value.trim() || !ttl.checkValidity()) return;
        var max = chosen.getAttribute("data-max-ttl"), min = chosen.getAttribute("data-min-ttl");
        if (seconds(ttl.value) > seconds(max)) ttl.setCustomValidity("at most " + max + " for " + chosen.value);
        else if (seconds(ttl.value) < seconds(min)) ttl.setCustomValidity("at least " + min + " for " + chosen.value);
      };
      ttl.addEventListener("input", check);
      form.addEventListener("change", check);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    tick();
    setInterval(tick, 30000);
  });
  // The status part polled by htmx arrives with new forms in it.
  document.addEventListener("htmx:after:swap", function (event) { wire(document); tick(); });
})();
