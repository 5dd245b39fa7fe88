// Keeps an incident page current while its steps run, without reloading it.
//
// A reload throws keyboard focus and screen readers back to the top, so instead
// this polls the page's live fragment (incidents.views.live) and swaps each
// region whose content changed ([data-live-region], matched by id). The one-line
// progress summary is an aria-live="polite" region: changes are announced, not
// the whole table. Polling stops when nothing is running or queued, backs off
// while nothing changes, and gives up after half an hour without change; the
// page's own "Refresh now" link works with or without this script.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch || !window.DOMParser) return;
  var url = root.getAttribute("data-live-url");
  var FIRST_DELAY = 3000, MAX_DELAY = 60000, GIVE_UP_AFTER = 30 * 60 * 1000;
  var delay = FIRST_DELAY, lastChange = Date.now();

  // The CSRF token in each form is masked afresh on every render, and a reader may
  // have opened a try's output: neither is a change.
  function comparable(el) {
    var copy = el.cloneNode(true);
    copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
      input.removeAttribute("value");
    });
    copy.querySelectorAll("details").forEach(function (d) { d.removeAttribute("open"); });
    return copy.innerHTML;
  }

  function openDetails(el) {
    var open = [];
    el.querySelectorAll("details").forEach(function (d, i) { if (d.open) open.push(i); });
    return open;
  }

  function swap(fresh) {
    var changed = false;
    fresh.querySelectorAll("[data-live-region]").forEach(function (incoming) {
      var here = document.getElementById(incoming.id);
      if (!here || comparable(here) === comparable(incoming)) return;
      var focused = document.activeElement;
      var focusId = focused && here.contains(focused) ? focused.id : "";
      var open = openDetails(here);
      here.innerHTML = incoming.innerHTML;
      var details = here.querySelectorAll("details");
      open.forEach(function (i) { if (details[i]) details[i].open = true; });
      if (focusId) {
        var again = document.getElementById(focusId);
        if (again) again.focus();
      }
      changed = true;
    });
    return changed;
  }

  function schedule() {
    window.setTimeout(poll, delay);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var holder = fresh.querySelector("[data-moving]");
        if (!holder) return; // not the fragment (signed out?): stop, the link still works
        if (swap(fresh)) {
          lastChange = Date.now();
          delay = FIRST_DELAY;
        } else {
          delay = Math.min(delay * 2, MAX_DELAY);
        }
        var moving = holder.getAttribute("data-moving") === "true";
        root.setAttribute("data-moving", moving ? "true" : "false");
        if (moving && Date.now() - lastChange < GIVE_UP_AFTER) schedule();
      })
      .catch(function () {
        delay = Math.min(delay * 2, MAX_DELAY);
        if (Date.now() - lastChange < GIVE_UP_AFTER) schedule();
      });
  }

  if (root.getAttribute("data-moving") === "true") schedule();
})();
