// Keyboard-first review: 1/2/3 choose, 0 none, S skip, U undo, ? help, Z/click zoom, Esc close.
(function () {
  "use strict";
  var busy = false;
  var zoom = document.getElementById("zoom");
  var help = document.getElementById("help");

  function submit(form, button) {
    if (busy || !form) return;
    busy = true;
    document.body.classList.add("sending");
    if (button && form.requestSubmit) form.requestSubmit(button);
    else if (button) button.click();
    else form.submit();
  }

  function choose(key) {
    var button = document.querySelector('button.choose[value="' + key + '"]');
    if (button) submit(document.getElementById("judge-form"), button);
  }

  function openZoom(src) {
    if (!zoom) return;
    zoom.querySelector("img").src = src;
    zoom.hidden = false;
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

  // hover zoom: the main image follows the pointer at 2x
  document.querySelectorAll(".main-img").forEach(function (img) {
    img.addEventListener("mousemove", function (ev) {
      var r = img.getBoundingClientRect();
      img.style.transformOrigin = ((ev.clientX - r.left) / r.width * 100) + "% " + ((ev.clientY - r.top) / r.height * 100) + "%";
    });
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.matches && ev.target.matches("input, textarea, select")) return;
    var k = ev.key;
    if (k === "Escape") { if (zoom) zoom.hidden = true; if (help) help.hidden = true; return; }
    if (k === "?") { if (help) help.hidden = !help.hidden; ev.preventDefault(); return; }
    if (/^[0-9]$/.test(k)) { choose(k); ev.preventDefault(); return; }
    if (k === "s" || k === "S") { submit(document.getElementById("skip-form")); ev.preventDefault(); return; }
    if (k === "u" || k === "U") {
      var undo = document.getElementById("undo-form");
      var b = undo && undo.querySelector("button");
      if (b && !b.disabled) submit(undo);
      ev.preventDefault();
      return;
    }
    if (k === "z" || k === "Z") {
      var hovered = document.querySelector(".offer:hover .main-img") || document.querySelector(".query .main-img");
      if (hovered) openZoom(hovered.dataset.zoom || hovered.src);
    }
  });
})();
