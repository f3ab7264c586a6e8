// Draw a deployed diagram with bpmn-js (NavigatedViewer) and mark it from the page's facts:
// active tasks, the path taken, timers waited on, and (monitor) a heat overlay of where instances
// wait. Configuration comes from <script type="application/json" id="diagram-config">.
//
// Readable first: the diagram opens fitted to its box only when its text stays readable at that
// size (READABLE); a bigger diagram opens at READABLE, at its start or its first active step, and is
// moved by dragging or with the arrow keys. The zoom buttons (_diagram.html) zoom in, out, to the
// whole diagram and back to the readable size; + and − do the same from the keyboard.
(function () {
  "use strict";
  var READABLE = 0.85;  // bpmn-js draws labels at 11–12 px: never below ~10 px unless asked to
  var MIN = 0.2;
  var MAX = 3;
  var STEP = 1.25;
  var PAN = 80;  // px per arrow key press
  var holder = document.querySelector("[data-diagram]");
  var configNode = document.getElementById("diagram-config");
  if (!holder || !configNode || !window.BpmnJS) { return; }
  var config = JSON.parse(configNode.textContent);
  var tools = holder.parentNode.querySelector(".diagram-tools");
  var level = tools && tools.querySelector(".zoom-level");

  function mark(viewer, ids, marker) {
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    (ids || []).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  function heat(viewer, spots) {
    // One short badge per step, above its box and no wider than it: badges of neighbouring steps
    // never overlap, and they keep their size when the diagram is zoomed out.
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var canvas = viewer.get("canvas");
    Object.keys(spots || {}).forEach(function (id) {
      var spot = spots[id];
      var element = registry.get(id);
      if (!element) { return; }
      canvas.addMarker(id, "heat-" + spot.level);
      var badge = document.createElement("div");
      badge.className = "heat-badge heat-badge-" + spot.level;
      badge.textContent = spot.label;
      if (spot.title) { badge.title = spot.title; }
      badge.style.maxWidth = element.width + "px";
      overlays.add(id, "heat", { position: { top: -24, left: 0 }, scale: { min: 1, max: 1.5 }, html: badge });
    });
  }

  function announce(canvas) {
    if (level) { level.textContent = Math.round(canvas.zoom() * 100) + " %"; }
  }

  function readable(canvas, focus) {
    // READABLE zoom from the diagram's top left, moved to bring ``focus`` (an active step) into view
    var box = canvas.viewbox();
    var inner = box.inner;
    var width = box.outer.width / READABLE;
    var height = box.outer.height / READABLE;
    var x = inner.x - 20;
    var y = inner.y - 20;
    if (focus && focus.x + focus.width + 40 > x + width) {  // moved only as far as needed to show it
      x = focus.x + focus.width / 2 - width / 3;
    }
    if (focus && focus.y + focus.height + 40 > y + height) {
      y = focus.y + focus.height / 2 - height / 2;
    }
    canvas.viewbox({ x: x, y: y, width: width, height: height });
  }

  function opening(viewer) {
    var canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    if (canvas.zoom() < READABLE) {
      var registry = viewer.get("elementRegistry");
      var active = (config.active || []).map(function (id) { return registry.get(id); }).filter(Boolean)[0];
      readable(canvas, active);
    }
    announce(canvas);
  }

  function zoomBy(canvas, factor) {
    canvas.zoom(Math.min(MAX, Math.max(MIN, canvas.zoom() * factor)), "auto");
    announce(canvas);
  }

  function act(viewer, what) {
    var canvas = viewer.get("canvas");
    if (what === "in") { zoomBy(canvas, STEP); }
    else if (what === "out") { zoomBy(canvas, 1 / STEP); }
    else if (what === "fit") { canvas.zoom("fit-viewport"); announce(canvas); }
    else if (what === "reset") { readable(canvas, null); announce(canvas); }
  }

  var viewer = new window.BpmnJS({ container: holder });
  if (tools) {
    tools.hidden = false;
    tools.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-zoom]");
      if (button) { act(viewer, button.getAttribute("data-zoom")); }
    });
  }
  holder.addEventListener("keydown", function (event) {
    if (event.target !== holder || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var canvas = viewer.get("canvas");
    var moves = { ArrowLeft: [PAN, 0], ArrowRight: [-PAN, 0], ArrowUp: [0, PAN], ArrowDown: [0, -PAN] };
    if (moves[event.key]) {
      canvas.scroll({ dx: moves[event.key][0], dy: moves[event.key][1] });
    } else if (event.key === "+") {
      act(viewer, "in");
    } else if (event.key === "-") {
      act(viewer, "out");
    } else if (event.key === "0") {
      act(viewer, "fit");
    } else {
      return;
    }
    event.preventDefault();
  });
  fetch(config.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      mark(viewer, config.done, "is-done");
      mark(viewer, config.waiting, "is-waiting");
      mark(viewer, config.active, "is-active");
      heat(viewer, config.heat);
      opening(viewer);
      holder.setAttribute("data-ready", "true");
    })
    .catch(function (error) {
      holder.setAttribute("data-ready", "error");
      var note = document.createElement("p");
      note.className = "notice";
      note.textContent = (config.errorText || "Diagrammet kunde inte visas") + " (" + error.message + ")";
      holder.parentNode.insertBefore(note, holder);
    });
})();
