// Keyboard-first review: 1/2/3 choose, 0 none, S skip, U undo, ? help, Z/click zoom, Esc close.
// With htmx (static/vendor/htmx.min.js) a judgement, skip or undo is one request that answers
// with the next row's panel, swapped in place; the panel then asks for the row after it
// (/review/next/) so its images are fetched while this one is judged, and shows that panel at
// the key press while the judgement is sent. Without htmx the forms post and redirect as before.
(function () {
  "use strict";
  var busy = false;
  var zoom = document.getElementById("zoom");
  var help = document.getElementById("help");
  var warm = []; // the prefetched images of the next row, held so the browser keeps them

  function done() {
    busy = false;
    document.body.classList.remove("sending");
  }

  function submit(form, button) {
    if (busy || !form) return;
    busy = true;
    document.body.classList.add("sending");
    // a click lets htmx see which button was pressed (name="slot"); plain submit without htmx
    if (button) button.click();
    else if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  function choose(key) {
    var button = document.querySelector('button.choose[value="' + key + '"]');
    if (!button || busy) return;
    submit(document.getElementById("judge-form"), button);
    if (window.htmx) showNextPanel();
  }

  // The judgement is on its way (htmx read the form on the click): show the prefetched next
  // panel at once. The request's target, the old panel, stays in the document (hidden) until
  // the server's panel replaces it; then this provisional one goes. Keys wait for that answer.
  function showNextPanel() {
    var tpl = document.querySelector("#prefetch template.next-panel");
    var current = document.getElementById("review");
    var next = tpl && tpl.content.querySelector(".review");
    if (!next || !current) return;
    next = next.cloneNode(true);
    next.classList.add("provisional");
    current.id = "review-sent";
    current.hidden = true;
    current.parentNode.insertBefore(next, current);
  }

  function openZoom(src) {
    if (!zoom) return;
    zoom.querySelector("img").src = src;
    zoom.hidden = false;
  }

  if (window.htmx) {
    document.body.addEventListener("htmx:afterSwap", function (ev) {
      var target = ev.detail.target;
      if (target && target.id === "prefetch") {
        warm = Array.prototype.map.call(target.querySelectorAll("img"), function (img) {
          var im = new Image();
          im.src = img.src;
          return im;
        });
        return;
      }
      // the new panel brings its own messages: drop those of the first full page
      document.querySelectorAll("body > .messages").forEach(function (m) { m.remove(); });
      done();
    });
    // anything but a review panel (an error, a login page after the session ended): load the
    // full page, which shows the row on the validator's screen and any message
    document.body.addEventListener("htmx:beforeSwap", function (ev) {
      var target = ev.detail.target;
      if (target && target.id === "prefetch") { ev.detail.shouldSwap = ev.detail.xhr.status === 200; return; }
      var xhr = ev.detail.xhr;
      var url = new URL(xhr.responseURL || window.location.href);
      if (xhr.status !== 200 || url.pathname !== new URL(ev.detail.requestConfig.path, window.location.href).pathname) {
        ev.detail.shouldSwap = false;
        window.location.assign(window.location.pathname);
        return;
      }
      // the server's panel replaces the old one (hidden meanwhile) in this same task: the
      // provisional one goes first, so that no other element holds the id "review"
      document.querySelectorAll(".review.provisional").forEach(function (p) { p.remove(); });
    });
    document.body.addEventListener("htmx:sendError", function () { window.location.assign(window.location.pathname); });
    document.body.addEventListener("htmx:afterRequest", function (ev) {
      var target = ev.detail.target;
      if (target && target.id === "prefetch") target.classList.add("fetched");
      else if (!ev.detail.successful && target && target.id === "review") done();
    });
  }

  document.addEventListener("click", function (ev) {
    var img = ev.target.closest(".gallery img");
    if (img && img.classList.contains("thumb")) {
      var gallery = img.closest(".gallery");
      var main = gallery.querySelector(".main-img");
      main.src = img.src;
      main.dataset.zoom = img.dataset.zoom;
      gallery.querySelectorAll(".thumb").forEach(function (t) { t.classList.toggle("active", t === img); });
      return;
    }
    if (img) { openZoom(img.dataset.zoom || img.src); return; }
    if (zoom && !zoom.hidden && ev.target.closest("#zoom")) zoom.hidden = true;
  });

  // hover zoom: the main image follows the pointer at 2x (delegated: panels are swapped in)
  document.addEventListener("mousemove", function (ev) {
    var img = ev.target.closest && ev.target.closest(".main-img");
    if (!img) return;
    var r = img.getBoundingClientRect();
    img.style.transformOrigin = ((ev.clientX - r.left) / r.width * 100) + "% " + ((ev.clientY - r.top) / r.height * 100) + "%";
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.matches && ev.target.matches("input, textarea, select")) return;
    var k = ev.key;
    if (k === "Escape") { if (zoom) zoom.hidden = true; if (help) help.hidden = true; return; }
    if (k === "?") { if (help) help.hidden = !help.hidden; ev.preventDefault(); return; }
    if (/^[0-9]$/.test(k)) { choose(k); ev.preventDefault(); return; }
    if (k === "s" || k === "S") {
      var skip = document.getElementById("skip-form");
      if (skip) submit(skip, skip.querySelector("button"));
      ev.preventDefault();
      return;
    }
    if (k === "u" || k === "U") {
      var undo = document.getElementById("undo-form");
      var b = undo && undo.querySelector("button");
      if (b && !b.disabled) submit(undo, b);
      ev.preventDefault();
      return;
    }
    if (k === "z" || k === "Z") {
      var hovered = document.querySelector(".offer:hover .main-img") || document.querySelector(".query .main-img");
      if (hovered) openZoom(hovered.dataset.zoom || hovered.src);
    }
  });
})();
