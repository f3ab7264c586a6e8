/* The editor's decision tables: each .dmn file of the routine opened in dmn-js (served from
   node_modules, no CDN), edited in place and handed to editor.js when the draft is saved or the
   version deployed (window.samverkanDmn.files()). */
(function () {
  "use strict";
  var model = JSON.parse(document.getElementById("editor-model").textContent);
  var select = document.getElementById("dmn-file");
  var status = document.getElementById("dmn-status");
  if (!select || !window.DmnJS) { return; }

  var edited = {};  // file name -> XML as last saved from the modeler
  var current = null;
  var modeler = new window.DmnJS({ container: document.getElementById("dmn-canvas") });

  function openTable() {
    var views = modeler.getViews();
    var table = views.filter(function (view) { return view.type === "decisionTable"; })[0];
    if (table && modeler.getActiveView() !== table) { return modeler.open(table); }
    return Promise.resolve();
  }

  function keep() {
    if (!current) { return Promise.resolve(); }
    var name = current;
    return modeler.saveXML({ format: true }).then(function (saved) { edited[name] = saved.xml; });
  }

  function show(name) {
    return keep().then(function () {
      current = name;
      return modeler.importXML(edited[name] || model.bpmnFiles[name]);
    }).then(openTable).then(function () {
      status.textContent = "";
      document.getElementById("dmn-canvas").setAttribute("data-ready", "true");
    }).catch(function (error) {
      status.textContent = "Beslutstabellen kunde inte visas: " + (error && error.message ? error.message : error);
    });
  }

  modeler.on("views.changed", function () {
    var viewer = modeler.getActiveViewer();
    if (viewer && !viewer.__samverkanWatched) {
      viewer.__samverkanWatched = true;
      viewer.on("commandStack.changed", function () {  // her edits only, not opening a table
        document.dispatchEvent(new CustomEvent("samverkan:dmn-changed"));
      });
    }
  });

  select.addEventListener("change", function () { show(select.value); });
  show(select.value);

  window.samverkanDmn = {
    files: function () { return keep().then(function () { return Object.assign({}, edited); }); }
  };
})();
