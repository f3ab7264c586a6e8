// Draw a deployed diagram with bpmn-js (NavigatedViewer) and mark it from the page's facts:
// active tasks, the path taken, timers waited on, and (monitor) a heat overlay of where instances
// wait. Configuration comes from <script type="application/json" id="diagram-config">.
(function () {
  "use strict";
  var holder = document.querySelector("[data-diagram]");
  var configNode = document.getElementById("diagram-config");
  if (!holder || !configNode || !window.BpmnJS) { return; }
  var config = JSON.parse(configNode.textContent);

  function mark(viewer, ids, marker) {
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    (ids || []).forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  function heat(viewer, spots) {
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var canvas = viewer.get("canvas");
    Object.keys(spots || {}).forEach(function (id) {
      var spot = spots[id];
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, "heat-" + spot.level);
      var badge = document.createElement("div");
      badge.className = "heat-badge heat-badge-" + spot.level;
      badge.textContent = spot.label;
      overlays.add(id, "heat", { position: { top: -14, right: 14 }, html: badge });
    });
  }

  var viewer = new window.BpmnJS({ container: holder });
  fetch(config.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      viewer.get("canvas").zoom("fit-viewport");
      mark(viewer, config.done, "is-done");
      mark(viewer, config.waiting, "is-waiting");
      mark(viewer, config.active, "is-active");
      heat(viewer, config.heat);
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
