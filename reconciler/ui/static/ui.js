// Keeps the page's live part current without reloading it: polls the same URL with the
// X-UI-Fragment header and replaces only the top-level children whose HTML changed, so
// unchanged parts (and the scroll position) stay as they are and nothing flickers.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live) { return; }
  var interval = Number(live.getAttribute("data-interval")) || 1500;
  var last = live.innerHTML;
  var busy = false;

  function setStatus(ok, text) {
    if (!status) { return; }
    status.textContent = text;
    status.className = ok ? "live-status" : "live-status offline";
  }

  function swap(html) {
    var next = document.createElement("div");
    next.innerHTML = html;
    var old = live.children;
    var fresh = next.children;
    if (old.length !== fresh.length) {
      live.replaceChildren.apply(live, Array.prototype.slice.call(next.childNodes));
      return;
    }
    for (var i = fresh.length - 1; i >= 0; i--) {
      if (old[i].outerHTML !== fresh[i].outerHTML) {
        live.replaceChild(fresh[i], old[i]);
      }
    }
  }

  function tick() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-UI-Fragment": "1" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok && r.status !== 404 && r.status !== 400) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        if (html !== last) { swap(html); last = html; }
        window.reconcilerRefreshes = (window.reconcilerRefreshes || 0) + 1;
        setStatus(true, "live");
      })
      .catch(function () { setStatus(false, "offline"); })
      .then(function () { busy = false; });
  }

  window.setInterval(tick, interval);
}());
