// The routine editor: bpmn-js Modeler on the latest version, a properties panel that works from
// the keyboard (pick an element from a list, rename it, link a form to a user task), a JSON form
// editor with a live preview rendered by the server, and deploy through the API
// (POST /api/v1/processes with the session cookie and the page's X-CSRF-Token). Problems the
// server finds are listed and marked on their elements in the diagram.
(function () {
  "use strict";
  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var model = JSON.parse(document.getElementById("editor-model").textContent);
  var texts = JSON.parse(document.getElementById("editor-texts").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var forms = JSON.parse(JSON.stringify(model.forms));
  var $ = function (id) { return document.getElementById(id); };

  var modeler = new window.BpmnJS({ container: $("modeler-canvas") });
  var registry, canvas, modeling, selection, overlays, eventBus, moddle;
  var current = null;

  function setStatus(id, text) { $(id).textContent = text; }

  // ---- properties panel -------------------------------------------------------------------
  function describable(element) {
    var type = element.type || "";
    return element.businessObject && type !== "label" && type !== "bpmn:Process" &&
      type !== "bpmn:Collaboration" && type.indexOf("bpmn:") === 0;
  }

  function refreshElementList() {
    var select = $("element-select");
    var chosen = select.value;
    while (select.options.length > 1) { select.remove(1); }
    registry.filter(describable)
      .sort(function (a, b) { return (a.businessObject.name || a.id).localeCompare(b.businessObject.name || b.id, "sv"); })
      .forEach(function (element) {
        var option = document.createElement("option");
        option.value = element.id;
        option.textContent = (element.businessObject.name || texts.unnamed) + " – " + element.type.replace("bpmn:", "");
        select.appendChild(option);
      });
    select.value = chosen;
  }

  function spiffProperties(bo) {
    var ext = bo.extensionElements;
    var values = (ext && ext.values) || [];
    return values.filter(function (v) { return v.$type === "spiffworkflow:properties"; })[0] || null;
  }

  function readProperty(bo, name) {
    var container = spiffProperties(bo);
    var found = ((container && container.$children) || []).filter(function (p) { return p.name === name; })[0];
    return found ? found.value : "";
  }

  function writeProperty(bo, name, value) {
    var ext = bo.extensionElements;
    if (!ext) {
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      bo.extensionElements = ext;
    }
    ext.values = ext.values || [];
    var container = spiffProperties(bo);
    if (!container) {
      container = moddle.createAny("spiffworkflow:properties", SPIFF, {});
      container.$parent = ext;
      ext.values.push(container);
    }
    container.$children = container.$children || [];
    var found = container.$children.filter(function (p) { return p.name === name; })[0];
    if (!found) {
      found = moddle.createAny("spiffworkflow:property", SPIFF, { name: name, value: value });
      found.$parent = container;
      container.$children.push(found);
    }
    found.value = value;
  }

  function schemaFiles() {
    return Object.keys(forms).filter(function (n) { return /\.schema\.json$/.test(n); }).sort();
  }

  function showDetails(element) {
    current = element && describable(element) ? element : null;
    $("element-details").hidden = !current;
    if (!current) { $("element-select").value = ""; return; }
    $("element-select").value = current.id;
    $("element-id").textContent = current.id;
    $("element-type").textContent = current.type.replace("bpmn:", "");
    $("element-name").value = current.businessObject.name || "";
    var isUserTask = current.type === "bpmn:UserTask";
    $("task-form-link").hidden = !isUserTask;
    if (isUserTask) {
      var select = $("element-form");
      select.innerHTML = "";
      [""].concat(schemaFiles()).forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name || texts.noForm;
        select.appendChild(option);
      });
      select.value = readProperty(current.businessObject, "formJsonSchemaFilename");
    }
  }

  function linkForm(element, schemaName) {
    var bo = element.businessObject;
    writeProperty(bo, "formJsonSchemaFilename", schemaName);
    var ui = schemaName.replace(/\.schema\.json$/, ".uischema.json");
    if (forms[ui]) { writeProperty(bo, "formUiSchemaFilename", ui); }
    // Tell the modeler the element changed (marks it dirty, redraws nothing visible).
    modeling.updateProperties(element, { extensionElements: bo.extensionElements });
  }

  $("element-select").addEventListener("change", function () {
    var element = registry.get(this.value);
    if (element) {
      selection.select(element);
      canvas.scrollToElement(element);
    } else {
      showDetails(null);
    }
  });

  $("element-name-apply").addEventListener("click", function () {
    if (!current) { return; }
    modeling.updateLabel(current, $("element-name").value.trim());
    refreshElementList();
    showDetails(current);
    setStatus("element-status", texts.renamed);
  });

  $("element-form-apply").addEventListener("click", function () {
    if (!current) { return; }
    linkForm(current, $("element-form").value);
    setStatus("element-status", texts.linked);
  });

  $("element-form-new").addEventListener("click", function () {
    if (!current) { return; }
    var name = current.id + ".schema.json";
    var ui = current.id + ".uischema.json";
    if (!forms[name]) {
      forms[name] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "title": current.businessObject.name || current.id, "description": "",
        "properties": {}, "required": [], "additionalProperties": false
      };
    }
    if (!forms[ui]) { forms[ui] = { "ui:order": [] }; }
    linkForm(current, name);
    refreshFormList(name);
    showDetails(current);
    setStatus("element-status", texts.created);
  });

  // ---- form editor with live preview ------------------------------------------------------
  var previewTimer = null;

  function refreshFormList(chosen) {
    var select = $("form-file");
    select.innerHTML = "";
    schemaFiles().forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    });
    if (chosen) { select.value = chosen; }
    loadForm();
  }

  function uiName(name) { return name.replace(/\.schema\.json$/, ".uischema.json"); }

  function loadForm() {
    var name = $("form-file").value;
    if (!name) { return; }
    $("form-schema").value = JSON.stringify(forms[name], null, 2);
    $("form-ui").value = JSON.stringify(forms[uiName(name)] || {}, null, 2);
    schedulePreview();
  }

  function readEditedForm() {
    var name = $("form-file").value;
    try {
      var schema = JSON.parse($("form-schema").value);
      var ui = JSON.parse($("form-ui").value || "{}");
      forms[name] = schema;
      forms[uiName(name)] = ui;
      setStatus("form-json-status", texts.jsonOk);
      return { schema: schema, ui: ui };
    } catch (error) {
      setStatus("form-json-status", texts.jsonError + " " + error.message);
      return null;
    }
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      var edited = readEditedForm();
      if (!edited) { return; }
      fetch(model.previewUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(edited)
      }).then(function (r) { return r.json(); }).then(function (body) {
        $("form-preview").innerHTML = body.html;
        $("form-preview").setAttribute("data-ready", "true");
      });
    }, 300);
  }

  $("form-file").addEventListener("change", loadForm);
  $("form-schema").addEventListener("input", schedulePreview);
  $("form-ui").addEventListener("input", schedulePreview);

  // ---- deploy -------------------------------------------------------------------------------
  function clearProblems() {
    registry.forEach(function (element) { canvas.removeMarker(element.id, "has-problem"); });
    overlays.remove({ type: "problem" });
  }

  function showProblems(problems) {
    var result = $("deploy-result");
    var heading = document.createElement("p");
    heading.className = "error-message";
    heading.textContent = texts.problems.replace("{n}", problems.length);
    var list = document.createElement("ul");
    list.className = "problems";
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var where = problem.file + (problem.element ? " [" + problem.element + "]" : "");
      item.textContent = where + ": " + problem.message + " ";
      var element = problem.element && registry.get(problem.element);
      if (element) {
        canvas.addMarker(element.id, "has-problem");
        var badge = document.createElement("div");
        badge.className = "problem-badge";
        badge.textContent = "!";
        badge.title = problem.message;
        overlays.add(element.id, "problem", { position: { top: -10, left: -10 }, html: badge });
        var show = document.createElement("button");
        show.type = "button";
        show.className = "link";
        show.textContent = texts.show + " " + (element.businessObject.name || element.id);
        show.addEventListener("click", function () { selection.select(element); canvas.scrollToElement(element); });
        item.appendChild(show);
      } else if (forms[problem.file.split("/").pop()]) {
        var open = document.createElement("button");
        open.type = "button";
        open.className = "link";
        open.textContent = texts.show + " " + problem.file;
        open.addEventListener("click", function () {
          refreshFormList(problem.file.split("/").pop());
          $("form-schema").focus();
        });
        item.appendChild(open);
      }
      list.appendChild(item);
    });
    result.appendChild(heading);
    result.appendChild(list);
  }

  $("deploy").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    $("deploy-result").innerHTML = "";
    clearProblems();
    modeler.saveXML({ format: true }).then(function (saved) {
      var body = new FormData();
      Object.keys(model.bpmnFiles).forEach(function (name) {
        var xml = name === model.mainFile ? saved.xml : model.bpmnFiles[name];
        body.append("files", new Blob([xml], { type: "application/xml" }), name);
      });
      Object.keys(forms).forEach(function (name) {
        body.append("files", new Blob([JSON.stringify(forms[name], null, 2)], { type: "application/json" }),
          model.key + "/" + name);
      });
      body.append("comment", $("deploy-comment").value);
      return fetch(model.deployUrl, {
        method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf }
      });
    }).then(function (response) {
      return response.json().then(function (json) { return { status: response.status, json: json }; });
    }).then(function (answer) {
      button.disabled = false;
      if (answer.status === 201) {
        var mine = (answer.json.deployed || []).filter(function (d) { return d.key === model.key; })[0];
        var version = mine ? mine.version : "";
        window.location.assign(window.location.pathname + "?driftsatt=" + encodeURIComponent(version));
      } else if (answer.json.problems) {
        showProblems(answer.json.problems);
      } else {
        $("deploy-result").textContent = texts.failed + " " + (answer.json.detail || answer.status);
      }
    }).catch(function (error) {
      button.disabled = false;
      $("deploy-result").textContent = texts.failed + " " + error.message;
    });
  });

  $("download-diagram").addEventListener("click", function () {
    modeler.saveXML({ format: true }).then(function (saved) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([saved.xml], { type: "application/xml" }));
      link.download = model.mainFile;
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  });

  // ---- start ------------------------------------------------------------------------------
  modeler.importXML(model.bpmnFiles[model.mainFile]).then(function () {
    registry = modeler.get("elementRegistry");
    canvas = modeler.get("canvas");
    modeling = modeler.get("modeling");
    selection = modeler.get("selection");
    overlays = modeler.get("overlays");
    eventBus = modeler.get("eventBus");
    moddle = modeler.get("moddle");
    canvas.zoom("fit-viewport");
    eventBus.on("selection.changed", function (event) { showDetails(event.newSelection[0] || null); });
    eventBus.on("elements.changed", function () { refreshElementList(); });
    refreshElementList();
    refreshFormList(schemaFiles()[0]);
    $("modeler-canvas").setAttribute("data-ready", "true");
  }).catch(function (error) {
    $("modeler-canvas").setAttribute("data-ready", "error");
    $("deploy-result").textContent = texts.failed + " " + error.message;
  });
})();
