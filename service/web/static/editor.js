// The routine editor: the bpmn-js Modeler (menus, palette and context pad in Swedish, see
// editor-sv.js) on the latest version or the routine's draft; a properties panel that works from the
// keyboard (pick an element from a list; edit its id, name, lane, inbox title, flow condition, timer;
// link a form to a user task); a JSON form editor with a live preview rendered by the server; draft
// save; a version diff (bpmn-js-differ) marked in a diagram and listed by name; and deploy through the
// API (POST /api/v1/processes with the session cookie and the page's X-CSRF-Token) after a dialog
// listing what will change. Problems the server finds are listed in Swedish and marked on their
// elements; a lane that maps to no role offers to choose its roles (kept with the draft, sent with
// the deploy). Leaving the page with unsaved changes asks first.
(function () {
  "use strict";
  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var differUrl = document.currentScript.getAttribute("data-differ");
  var model = JSON.parse(document.getElementById("editor-model").textContent);
  var texts = JSON.parse(document.getElementById("editor-texts").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var forms = JSON.parse(JSON.stringify(model.forms));
  // Swedish unless the person chose English (the page's lang): bpmn-js speaks English by itself.
  var swedish = (document.documentElement.lang || "sv").indexOf("sv") === 0;
  var translate = swedish ? window.SamverkanEditorTranslate : function (template, replacements) {
    return template.replace(/{([^}]+)}/g, function (_, key) { return (replacements || {})[key] || "{" + key + "}"; });
  };
  var $ = function (id) { return document.getElementById(id); };
  var ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
  var TIMER_PATTERNS = {
    timeDuration: /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?$/,
    timeDate: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}:?\d{2})$/,
    timeCycle: /^R\d*\/(\d{4}-\d{2}-\d{2}T[^/]+\/)?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/
  };
  var TIMER_HINTS = { timeDuration: texts.timerDuration, timeDate: texts.timerDate, timeCycle: texts.timerCycle };

  var modeler = new window.BpmnJS({
    container: $("modeler-canvas"),
    additionalModules: [{ translate: ["value", translate] }]
  });
  var registry, canvas, modeling, selection, overlays, eventBus, moddle;
  var current = null;

  function setStatus(id, text) { $(id).textContent = text; }

  function typeLabel(type) {
    var words = type.replace("bpmn:", "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    return translate(words.charAt(0).toUpperCase() + words.slice(1));
  }

  function nameOf(bo) { return (bo && bo.name) || (bo && bo.id) || ""; }

  // ---- unsaved changes ---------------------------------------------------------------------------
  var dirty = false;
  var leaving = false;

  function markDirty() {
    if (dirty) { return; }
    dirty = true;
    setStatus("dirty-state", texts.dirty);
  }

  function markClean() {
    dirty = false;
    setStatus("dirty-state", texts.clean);
  }

  document.addEventListener("samverkan:dmn-changed", markDirty);  // a decision table edited (dmn-editor.js)

  window.addEventListener("beforeunload", function (event) {
    if (dirty && !leaving) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Links within the service: ask in words before the browser's own (generic) question.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || !dirty || link.target || link.hasAttribute("download")) { return; }
    var href = link.getAttribute("href");
    if (href.charAt(0) === "#" || href.indexOf("blob:") === 0) { return; }
    if (window.confirm(texts.unsaved)) {
      leaving = true;
    } else {
      event.preventDefault();
    }
  }, true);

  // ---- properties panel -------------------------------------------------------------------------
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
        option.textContent = (element.businessObject.name || texts.unnamed) + " – " + typeLabel(element.type);
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
    if (!value) {
      container.$children = container.$children.filter(function (p) { return p !== found; });
      return;
    }
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

  function lanes() {
    return registry.filter(function (e) { return e.type === "bpmn:Lane"; });
  }

  function laneOf(element) {
    var bo = element.businessObject;
    return lanes().filter(function (lane) {
      return (lane.businessObject.flowNodeRef || []).indexOf(bo) >= 0;
    })[0] || null;
  }

  function timerDefinition(element) {
    var definitions = (element.businessObject && element.businessObject.eventDefinitions) || [];
    return definitions.filter(function (d) { return d.$type === "bpmn:TimerEventDefinition"; })[0] || null;
  }

  function conditional(element) {
    if (element.type !== "bpmn:SequenceFlow") { return false; }
    var source = element.businessObject.sourceRef;
    return !!source && /Gateway$/.test(source.$type) || !!element.businessObject.conditionExpression;
  }

  function clearFieldError(id) {
    $(id).removeAttribute("aria-invalid");
    $(id + "-error").hidden = true;
    $(id + "-error").textContent = "";
  }

  function fieldError(id, message) {
    $(id).setAttribute("aria-invalid", "true");
    $(id + "-error").hidden = false;
    $(id + "-error").textContent = message;
  }

  function showDetails(element) {
    current = element && describable(element) ? element : null;
    $("element-details").hidden = !current;
    clearFieldError("element-id");
    clearFieldError("timer-value");
    if (!current) { $("element-select").value = ""; return; }
    var bo = current.businessObject;
    $("element-select").value = current.id;
    $("element-id").value = current.id;
    $("element-type").textContent = typeLabel(current.type);
    $("element-name").value = bo.name || "";
    var isUserTask = current.type === "bpmn:UserTask";
    // lane: flow nodes of a diagram that has lanes (not the lanes themselves, not flows)
    var lane = laneOf(current);
    var laneable = lanes().length > 0 && !current.waypoints && current.type !== "bpmn:Lane" &&
      current.type !== "bpmn:Participant" && current.type !== "bpmn:BoundaryEvent" && current.type !== "label";
    $("lane-field").hidden = !laneable;
    if (laneable) {
      var laneSelect = $("element-lane");
      laneSelect.innerHTML = "";
      lanes().forEach(function (l) {
        var option = document.createElement("option");
        option.value = l.id;
        option.textContent = nameOf(l.businessObject);
        laneSelect.appendChild(option);
      });
      laneSelect.value = lane ? lane.id : "";
    }
    $("title-field").hidden = !isUserTask;
    if (isUserTask) { $("element-title").value = readProperty(bo, "title"); }
    $("condition-field").hidden = !conditional(current);
    if (conditional(current)) {
      $("element-condition").value = (bo.conditionExpression && bo.conditionExpression.body) || "";
    }
    var timer = timerDefinition(current);
    $("timer-field").hidden = !timer;
    if (timer) {
      var kind = ["timeDuration", "timeDate", "timeCycle"].filter(function (k) { return timer[k]; })[0] || "timeDuration";
      $("timer-kind").value = kind;
      $("timer-value").value = (timer[kind] && timer[kind].body) || "";
    }
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
      select.value = readProperty(bo, "formJsonSchemaFilename");
    }
  }

  function idProblem(id, element) {
    if (!id) { return texts.idEmpty; }
    if (!ID_PATTERN.test(id)) { return texts.idFormat; }
    if (id === element.id) { return null; }
    var taken = registry.get(id) || (moddle.ids && moddle.ids.assigned(id));
    if (taken) {
      var bo = taken.businessObject || taken;
      return texts.idTaken.replace("{id}", id).replace("{name}", nameOf(bo));
    }
    return null;
  }

  function timerProblem(kind, value) {
    var trimmed = value.trim();
    if (!TIMER_PATTERNS[kind].test(trimmed)) { return TIMER_HINTS[kind]; }
    return null;
  }

  function moveToLane(element, lane) {
    var top = lane.y, bottom = lane.y + lane.height;
    var centre = element.y + element.height / 2;
    if (centre >= top && centre <= bottom) { return; }
    var target = top + lane.height / 2 - element.height / 2;
    modeling.moveElements([element], { x: 0, y: Math.round(target - element.y) });
  }

  $("properties").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    var element = current;
    var bo = element.businessObject;
    var newId = $("element-id").value.trim();
    var problems = [];
    var idError = idProblem(newId, element);
    if (idError) { fieldError("element-id", idError); problems.push("element-id"); } else { clearFieldError("element-id"); }
    var timer = timerDefinition(element);
    var kind = $("timer-kind").value;
    var timerValue = $("timer-value").value.trim();
    var timerChanged = false;
    if (timer) {
      var before = timer[kind] && timer[kind].body;
      timerChanged = before !== timerValue || !timer[kind];
      var timerError = timerChanged ? timerProblem(kind, timerValue) : null;
      if (timerError) { fieldError("timer-value", timerError); problems.push("timer-value"); } else { clearFieldError("timer-value"); }
    }
    if (problems.length) {
      $(problems[0]).focus();
      return;
    }
    var name = $("element-name").value.trim();
    if (name !== (bo.name || "")) { modeling.updateLabel(element, name); }
    if (!$("title-field").hidden && $("element-title").value.trim() !== readProperty(bo, "title")) {
      writeProperty(bo, "title", $("element-title").value.trim());
      modeling.updateProperties(element, { extensionElements: bo.extensionElements });
    }
    if (!$("condition-field").hidden) {
      var condition = $("element-condition").value.trim();
      var old = (bo.conditionExpression && bo.conditionExpression.body) || "";
      if (condition !== old) {
        modeling.updateProperties(element, {
          conditionExpression: condition ? moddle.create("bpmn:FormalExpression", { body: condition }) : undefined
        });
      }
    }
    if (timer && timerChanged) {
      var update = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      update[kind] = moddle.create("bpmn:FormalExpression", { body: timerValue });
      modeling.updateModdleProperties(element, timer, update);
    }
    if (!$("lane-field").hidden && $("element-lane").value) {
      var lane = registry.get($("element-lane").value);
      if (lane && lane !== laneOf(element)) { moveToLane(element, lane); }
    }
    if (newId !== element.id) { modeling.updateProperties(element, { id: newId }); }
    refreshElementList();
    showDetails(registry.get(newId) || element);
    setStatus("element-status", texts.applied);
  });

  function linkForm(element, schemaName) {
    var bo = element.businessObject;
    writeProperty(bo, "formJsonSchemaFilename", schemaName);
    var ui = schemaName.replace(/\.schema\.json$/, ".uischema.json");
    writeProperty(bo, "formUiSchemaFilename", forms[ui] ? ui : "");
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

  // The palette names its tools for screen readers only (aria-label): show the same words as tooltips.
  function paletteTooltips() {
    var entries = $("modeler-canvas").querySelectorAll(".djs-palette .entry[aria-label]");
    Array.prototype.forEach.call(entries, function (entry) { entry.title = entry.getAttribute("aria-label"); });
  }

  // ---- zoom -------------------------------------------------------------------------------------
  // Fit the whole diagram, leaving room on the left for the palette so it covers nothing.
  function fit() {
    canvas.zoom("fit-viewport", "auto");
    var palette = $("modeler-canvas").querySelector(".djs-palette");
    var box = canvas.viewbox();
    var room = palette ? palette.getBoundingClientRect().width + 24 : 0;
    var scale = box.scale || 1;
    var pad = room / scale;
    canvas.viewbox({ x: box.x - pad, y: box.y, width: box.width + pad, height: box.height });
  }

  // Open readable: the diagram's height fills the canvas (never above 100 %), its start at the left
  // beside the palette; wider diagrams scroll. "Visa hela diagrammet" shows all of it at once.
  function readable() {
    canvas.zoom("fit-viewport", "auto");
    var box = canvas.viewbox();
    var inner = box.inner, outer = box.outer;
    if (!inner || !inner.height) { return; }
    var palette = $("modeler-canvas").querySelector(".djs-palette");
    var room = palette ? palette.getBoundingClientRect().width + 24 : 0;
    var scale = Math.min(1, (outer.height - 40) / inner.height, (outer.width - room - 20) / Math.max(inner.width / 4, 1));
    if (scale * inner.width <= outer.width - room - 20) { fit(); return; }
    canvas.viewbox({ x: inner.x - room / scale, y: inner.y - 20 / scale,
                     width: outer.width / scale, height: outer.height / scale });
  }

  $("zoom-in").addEventListener("click", function () { canvas.zoom(canvas.zoom() * 1.25); });
  $("zoom-out").addEventListener("click", function () { canvas.zoom(canvas.zoom() / 1.25); });
  $("zoom-fit").addEventListener("click", fit);

  // ---- form editor with live preview ------------------------------------------------------------
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
  ["form-schema", "form-ui"].forEach(function (id) {
    $(id).addEventListener("input", function () { markDirty(); schedulePreview(); });
  });

  // ---- what changed (bpmn-js-differ) ------------------------------------------------------------
  var differ = null;

  function loadDiffer() {
    differ = differ || import(differUrl);
    return differ;
  }

  function definitionsOf(xml) {
    return moddle.fromXML(xml).then(function (result) { return result.rootElement; });
  }

  function owner(element) {
    // An event definition or expression has no name of its own: it belongs to its element.
    var bo = element;
    while (bo && !bo.name && bo.$parent && !/^bpmn:(Process|Definitions|Collaboration)$/.test(bo.$parent.$type) &&
           /Definition$|Expression$/.test(bo.$type)) {
      bo = bo.$parent;
    }
    return bo || element;
  }

  var ATTRIBUTES = {
    name: "namn", id: "id", sourceRef: "kommer från", targetRef: "leder till", conditionExpression: "villkor",
    eventDefinitions: "händelse", extensionElements: "egenskaper", "default": "standardflöde",
    attachedToRef: "sitter på", flowNodeRef: "lane", timer: "timer", lane: "lane"
  };

  function attributeLabel(attribute) {
    var base = attribute.replace(/\[.*$/, "").split(".")[0];
    return ATTRIBUTES[base] || base;
  }

  // A flow without a name is told by where it goes: "Flöde från A till B".
  function label(bo) {
    if (bo.name) { return bo.name; }
    if (bo.$type === "bpmn:SequenceFlow" && bo.sourceRef && bo.targetRef) {
      return "→ " + nameOf(bo.sourceRef) + " → " + nameOf(bo.targetRef);
    }
    return bo.id || "";
  }

  var REFERENCES = { $parent: 1, sourceRef: 1, targetRef: 1, flowNodeRef: 1, attachedToRef: 1, "default": 1,
                     processRef: 1, bpmnElement: 1, incoming: 1, outgoing: 1, messageRef: 1, categoryValueRef: 1,
                     dataObjectRef: 1, calledElement: 1, $model: 1, $descriptor: 1, $attrs: 1 };

  // Every element with an id in a document, by id.
  function byId(root) {
    var found = {};
    var seen = [];
    (function walk(node) {
      if (!node || typeof node !== "object" || seen.indexOf(node) >= 0) { return; }
      seen.push(node);
      if (node.id && node.$type) { found[node.id] = node; }
      Object.keys(node).forEach(function (key) {
        if (REFERENCES[key]) { return; }
        var value = node[key];
        if (Array.isArray(value)) { value.forEach(walk); } else if (value && typeof value === "object") { walk(value); }
      });
    })(root);
    return found;
  }

  function expressionText(expression) { return expression ? String(expression.body || "") : ""; }

  function timerText(bo) {
    return (bo.eventDefinitions || []).map(function (d) {
      return ["timeDuration", "timeDate", "timeCycle"].map(function (k) { return d[k] ? k + "=" + expressionText(d[k]) : ""; }).join("");
    }).join("|");
  }

  function propertiesText(bo) {
    var container = bo.extensionElements ? spiffProperties(bo) : null;
    return ((container && container.$children) || []).map(function (p) { return p.name + "=" + p.value; }).sort().join("|");
  }

  // Element id → the ids of the lanes it lies in.
  function laneMap(elements) {
    var lanesOf = {};
    Object.keys(elements).forEach(function (id) {
      var lane = elements[id];
      if (lane.$type !== "bpmn:Lane") { return; }
      (lane.flowNodeRef || []).forEach(function (node) {
        (lanesOf[node.id] = lanesOf[node.id] || []).push(lane.id);
      });
    });
    return lanesOf;
  }

  function deepChanges(a, b, lanesBefore, lanesAfter) {
    var what = [];
    if (expressionText(a.conditionExpression) !== expressionText(b.conditionExpression)) { what.push(ATTRIBUTES.conditionExpression); }
    if (timerText(a) !== timerText(b)) { what.push(ATTRIBUTES.timer); }
    if (propertiesText(a) !== propertiesText(b)) { what.push(ATTRIBUTES.extensionElements); }
    if ((lanesBefore[a.id] || []).sort().join("|") !== (lanesAfter[b.id] || []).sort().join("|")) { what.push(ATTRIBUTES.lane); }
    return what;
  }

  function isDrawing(bo) { return /^(bpmndi|dc|di):/.test(bo.$type || ""); }

  // {added, removed, changed, moved}: lists of {id, name, type, what}, by name.
  function changesBetween(oldXml, newXml) {
    return Promise.all([loadDiffer(), definitionsOf(oldXml), definitionsOf(newXml)]).then(function (loaded) {
      var result = loaded[0].diff(loaded[1], loaded[2]);
      function list(map, describe) {
        var seen = {};
        return Object.keys(map).map(function (id) { return describe(id, map[id]); })
          .filter(function (item) {
            if (!item || seen[item.id]) { return false; }
            seen[item.id] = true;
            return true;
          })
          .sort(function (a, b) { return a.name.localeCompare(b.name, "sv"); });
      }
      function plain(id, bo) {
        if (!bo || isDrawing(bo)) { return null; }
        var named = owner(bo);
        return { id: named.id || id, name: label(named) || id, type: typeLabel(named.$type || "") };
      }
      var changed = list(result._changed, function (id, change) {
        var item = plain(id, change.model);
        if (!item) { return null; }
        var attrs = Object.keys(change.attrs || {});
        item.what = attrs.map(attributeLabel).join(", ") || texts.attrOther;
        if (change.attrs && change.attrs.name) {
          // The model is the newer one; which of the pair the differ calls old has varied, so go by the model.
          var now = change.model.name || "";
          var pair = [change.attrs.name.oldValue, change.attrs.name.newValue];
          var was = pair[0] === now ? pair[1] : pair[0];
          item.what = texts.attrName + ": ”" + (was || "") + "” → ”" + now + "”";
        }
        return item;
      });
      var changedIds = {};
      changed.forEach(function (c) { changedIds[c.id] = c; });
      // What the differ does not look into: conditions, timers, properties, lanes.
      var before = byId(loaded[1]), after = byId(loaded[2]);
      var lanesBefore = laneMap(before), lanesAfter = laneMap(after);
      Object.keys(after).forEach(function (id) {
        if (!before[id] || isDrawing(after[id]) || after[id].$type === "bpmn:Lane") { return; }
        var what = deepChanges(before[id], after[id], lanesBefore, lanesAfter);
        if (!what.length) { return; }
        var item = changedIds[id];
        if (!item) {
          item = plain(id, after[id]);
          if (!item) { return; }
          item.what = "";
          changed.push(item);
          changedIds[id] = item;
        }
        var known = item.what ? item.what.split(", ") : [];
        what.forEach(function (w) { if (known.indexOf(w) < 0) { known.push(w); } });
        item.what = known.join(", ");
      });
      changed.sort(function (a, b) { return a.name.localeCompare(b.name, "sv"); });
      return {
        added: list(result._added, plain),
        removed: list(result._removed, plain),
        changed: changed,
        moved: list(result._layoutChanged, plain).filter(function (m) { return !changedIds[m.id]; })
      };
    });
  }

  function formChanges() {
    var before = model.deployed.forms || {};
    var names = {};
    Object.keys(before).concat(Object.keys(forms)).forEach(function (n) { names[n] = true; });
    return Object.keys(names).sort().filter(function (n) {
      return JSON.stringify(sorted(before[n])) !== JSON.stringify(sorted(forms[n]));
    });
  }

  function sorted(value) {
    if (Array.isArray(value)) { return value.map(sorted); }
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).sort().forEach(function (k) { out[k] = sorted(value[k]); });
      return out;
    }
    return value;
  }

  // One kind of change in the deploy dialog: a heading with the count, then a line per item.
  function appendSection(box, title, kind, lines) {
    var heading = document.createElement("h3");
    heading.textContent = title + " (" + lines.length + ")";
    var list = document.createElement("ul");
    list.setAttribute("data-kind", kind);
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      list.appendChild(li);
    });
    box.appendChild(heading);
    box.appendChild(list);
  }

  function changeList(changes, extraForms) {
    var box = document.createElement("div");
    box.className = "change-list";
    [["added", texts.added], ["removed", texts.removed], ["changed", texts.changed], ["moved", texts.moved]]
      .forEach(function (pair) {
        var items = changes[pair[0]];
        if (!items.length) { return; }
        appendSection(box, pair[1], pair[0], items.map(function (item) {
          return item.name + " – " + item.type + (item.what ? " (" + item.what + ")" : "");
        }));
      });
    if (extraForms && extraForms.length) { appendSection(box, texts.formsChanged, "forms", extraForms); }
    return box;
  }

  function count(changes) {
    return changes.added.length + changes.removed.length + changes.changed.length + changes.moved.length;
  }

  // ---- version diff -----------------------------------------------------------------------------
  var diffViewer = null;

  function diffSources() {
    var sources = model.versions.map(function (v, i) {
      return { value: "v" + v.version, label: texts.version.replace("{v}", v.version) + (i === 0 ? " " + texts.latest : ""),
               xml: function () { return fetch(v.url, { credentials: "same-origin" }).then(function (r) { return r.text(); }); } };
    });
    if (model.draftXml) {
      sources.push({ value: "draft", label: texts.draft, xml: function () { return Promise.resolve(model.draftXml); } });
    }
    sources.push({ value: "current", label: texts.current,
                   xml: function () { return modeler.saveXML({ format: true }).then(function (s) { return s.xml; }); } });
    return sources;
  }

  function fillDiffChoices() {
    var sources = diffSources();
    ["diff-from", "diff-to"].forEach(function (id) {
      var select = $(id);
      select.innerHTML = "";
      sources.forEach(function (source) {
        var option = document.createElement("option");
        option.value = source.value;
        option.textContent = source.label;
        select.appendChild(option);
      });
    });
    $("diff-from").value = "v" + model.version;
    $("diff-to").value = "current";
    return sources;
  }

  $("diff-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var sources = diffSources();
    function find(value) { return sources.filter(function (s) { return s.value === value; })[0]; }
    var from = find($("diff-from").value), to = find($("diff-to").value);
    var result = $("diff-result");
    result.textContent = "";
    Promise.all([from.xml(), to.xml()]).then(function (xmls) {
      return changesBetween(xmls[0], xmls[1]).then(function (changes) {
        var summary = document.createElement("p");
        summary.textContent = count(changes) ? texts.diffSummary.replace("{a}", changes.added.length)
          .replace("{r}", changes.removed.length).replace("{c}", changes.changed.length) : texts.noDiff;
        result.appendChild(summary);
        var legend = document.createElement("p");
        legend.className = "diff-legend";
        legend.setAttribute("aria-hidden", "true");
        [["added", texts.added], ["changed", texts.changed], ["moved", texts.moved]].forEach(function (pair) {
          var span = document.createElement("span");
          span.className = pair[0];
          span.textContent = pair[1];
          legend.appendChild(span);
        });
        result.appendChild(legend);
        result.appendChild(changeList(changes));
        return showDiff(xmls[1], changes);
      });
    }).catch(function (error) {
      result.textContent = texts.diffFailed + " " + error.message;
    });
  });

  function showDiff(xml, changes) {
    var container = $("diff-canvas");
    container.hidden = false;
    if (!diffViewer) {
      diffViewer = new window.BpmnJS({ container: container, additionalModules: [{ translate: ["value", translate] }] });
    }
    return diffViewer.importXML(xml).then(function () {
      var view = diffViewer.get("canvas");
      var shapes = diffViewer.get("elementRegistry");
      view.zoom("fit-viewport", "auto");
      [["added", "diff-added"], ["changed", "diff-changed"], ["moved", "diff-moved"]].forEach(function (pair) {
        changes[pair[0]].forEach(function (item) {
          if (shapes.get(item.id)) { view.addMarker(item.id, pair[1]); }
        });
      });
      container.setAttribute("data-ready", "true");
    });
  }

  // ---- roles of lanes the service does not know -------------------------------------------------
  // A lane bpmn/lanes.json does not map is no dead end: the process owner ticks the roles that work
  // in it. The choice is kept with the draft and sent with the deploy (the API's `lanes` field).
  var laneChoices = JSON.parse(JSON.stringify(model.laneChoices || {}));
  var laneCount = 0;

  function laneFieldset(lane) {
    return Array.prototype.filter.call($("lane-choices").querySelectorAll("fieldset"), function (f) {
      return f.getAttribute("data-lane") === lane;
    })[0] || null;
  }

  function showLaneChoice(lane) {
    var found = laneFieldset(lane);
    if (found) { return found; }
    var box = $("lane-choices");
    box.hidden = false;
    var fieldset = document.createElement("fieldset");
    fieldset.className = "row lane-choice";
    fieldset.setAttribute("data-lane", lane);
    var legend = document.createElement("legend");
    legend.textContent = texts.laneLegend.replace("{lane}", lane);
    fieldset.appendChild(legend);
    var grid = document.createElement("div");
    grid.className = "lane-roles";
    laneCount += 1;
    model.roles.forEach(function (role) {
      var row = document.createElement("div");
      row.className = "choice";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.id = "lane-" + laneCount + "-" + role.key;
      box.value = role.key;
      box.checked = (laneChoices[lane] || []).indexOf(role.key) >= 0;
      box.addEventListener("change", function () {
        var chosen = Array.prototype.filter.call(fieldset.querySelectorAll("input[type=checkbox]"), function (b) {
          return b.checked;
        }).map(function (b) { return b.value; });
        if (chosen.length) { laneChoices[lane] = chosen; } else { delete laneChoices[lane]; }
        markDirty();
      });
      var label = document.createElement("label");
      label.htmlFor = box.id;
      label.textContent = role.label;
      row.appendChild(box);
      row.appendChild(label);
      grid.appendChild(row);
    });
    fieldset.appendChild(grid);
    box.appendChild(fieldset);
    return fieldset;
  }

  function laneChanges() {
    var before = sorted(model.deployed.lanes || {}), after = sorted(laneChoices);
    var names = {};
    Object.keys(before).concat(Object.keys(after)).forEach(function (n) { names[n] = true; });
    return Object.keys(names).sort().filter(function (n) {
      return JSON.stringify((before[n] || []).slice().sort()) !== JSON.stringify((after[n] || []).slice().sort());
    });
  }

  Object.keys(laneChoices).sort().forEach(showLaneChoice);

  // ---- problems ---------------------------------------------------------------------------------
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
      item.setAttribute("data-element", problem.element || "");
      var said = document.createElement("span");
      said.textContent = (problem.text || problem.message) + " ";
      item.appendChild(said);
      var element = problem.element && registry.get(problem.element);
      if (element) {
        canvas.addMarker(element.id, "has-problem");
        var badge = document.createElement("div");
        badge.className = "problem-badge";
        badge.textContent = "!";
        badge.title = problem.text || problem.message;
        overlays.add(element.id, "problem", { position: { top: -10, left: -10 }, html: badge });
        var show = document.createElement("button");
        show.type = "button";
        show.className = "link";
        show.textContent = texts.show + " " + nameOf(element.businessObject);
        show.addEventListener("click", function () {
          selection.select(element);
          canvas.scrollToElement(element);
          $("element-select").focus();
        });
        item.appendChild(show);
      } else if (problem.file && forms[problem.file.split("/").pop()]) {
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
      if (problem.lane) {
        var fieldset = showLaneChoice(problem.lane);
        var choose = document.createElement("button");
        choose.type = "button";
        choose.className = "link";
        choose.textContent = texts.laneChoose.replace("{lane}", problem.lane);
        choose.addEventListener("click", function () { fieldset.querySelector("input").focus(); });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(choose);
      }
      if (problem.text && problem.message) {
        var details = document.createElement("details");
        details.className = "technical";
        var summary = document.createElement("summary");
        summary.textContent = texts.technical;
        details.appendChild(summary);
        details.appendChild(document.createTextNode(problem.file + (problem.element ? " [" + problem.element + "]" : "") +
          ": " + problem.message));
        item.appendChild(details);
      }
      list.appendChild(item);
    });
    result.appendChild(heading);
    result.appendChild(list);
  }

  // ---- draft ------------------------------------------------------------------------------------
  function currentFiles() {
    // Decision tables as edited (dmn-editor.js); a called process pinned at deploy (deployed/...) is
    // left out, so deploying again calls its latest version.
    var tables = window.samverkanDmn ? window.samverkanDmn.files() : Promise.resolve({});
    return Promise.all([modeler.saveXML({ format: true }), tables]).then(function (results) {
      var saved = results[0], edited = results[1], files = {};
      Object.keys(model.bpmnFiles).forEach(function (name) {
        if (name.indexOf("deployed/") === 0) { return; }
        files[name] = name === model.mainFile ? saved.xml : (edited[name] || model.bpmnFiles[name]);
      });
      return files;
    });
  }

  $("save-draft").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    readEditedForm();
    currentFiles().then(function (files) {
      return fetch(model.draftUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ bpmnFiles: files, forms: forms, baseVersion: model.baseVersion,
                               comment: $("deploy-comment").value, lanes: laneChoices })
      });
    }).then(function (response) {
      return response.json().then(function (json) { return { ok: response.ok, json: json }; });
    }).then(function (answer) {
      button.disabled = false;
      if (answer.ok) {
        markClean();
        setStatus("draft-result", answer.json.message);
      } else {
        setStatus("draft-result", texts.draftFailed + " " + (answer.json.problems || []).join(" "));
      }
    }).catch(function (error) {
      button.disabled = false;
      setStatus("draft-result", texts.draftFailed + " " + error.message);
    });
  });

  if ($("discard-draft")) {
    $("discard-draft").addEventListener("click", function () {
      if (!window.confirm(texts.discardConfirm)) { return; }
      fetch(model.draftUrl, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .then(function () {
          leaving = true;
          window.location.assign(model.editUrl);
        });
    });
  }

  // ---- deploy -----------------------------------------------------------------------------------
  var dialog = $("deploy-dialog");

  $("deploy").addEventListener("click", function () {
    readEditedForm();
    modeler.saveXML({ format: true }).then(function (saved) {
      // Without the list (the differ did not load) the question is still asked, only shorter.
      return changesBetween(model.deployed.xml, saved.xml).catch(function () { return null; });
    }).then(function (changes) {
      var changedForms = formChanges();
      var changedLanes = laneChanges();
      var none = changes !== null && count(changes) === 0 && changedForms.length === 0 && changedLanes.length === 0;
      $("deploy-dialog-summary").textContent = (none ? texts.noChanges : texts.confirmSummary).replace("{v}", model.version);
      var box = $("deploy-dialog-changes");
      box.innerHTML = "";
      if (!none && changes !== null) { box.appendChild(changeList(changes, changedForms)); }
      if (changedLanes.length) {
        appendSection(box, texts.lanesChanged, "lanes", changedLanes.map(function (lane) {
          return lane + ": " + (laneChoices[lane] || []).map(function (key) {
            return (model.roles.filter(function (r) { return r.key === key; })[0] || { label: key }).label;
          }).join(", ");
        }));
      }
      dialog.showModal();
    }).catch(function (error) {
      $("deploy-result").textContent = texts.failed + " " + error.message;
    });
  });

  $("deploy-cancel").addEventListener("click", function () { dialog.close(); $("deploy").focus(); });

  $("deploy-confirm").addEventListener("click", function () {
    dialog.close();
    var button = $("deploy");
    button.disabled = true;
    $("deploy-result").innerHTML = "";
    clearProblems();
    currentFiles().then(function (files) {
      var body = new FormData();
      Object.keys(files).forEach(function (name) {
        body.append("files", new Blob([files[name]], { type: "application/xml" }), name);
      });
      Object.keys(forms).forEach(function (name) {
        body.append("files", new Blob([JSON.stringify(forms[name], null, 2)], { type: "application/json" }),
          model.key + "/" + name);
      });
      body.append("comment", $("deploy-comment").value);
      body.append("lanes", JSON.stringify(laneChoices));
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
        var unchanged = (answer.json.unchanged || []).indexOf(model.key) >= 0;
        var done = model.editingDraft
          ? fetch(model.draftUrl, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
          : Promise.resolve();
        return done.then(function () {
          markClean();
          leaving = true;
          window.location.assign(model.editUrl + "?" + (unchanged ? "oforandrad=" : "driftsatt=") + encodeURIComponent(version));
        });
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

  // ---- start ------------------------------------------------------------------------------------
  modeler.importXML(model.bpmnFiles[model.mainFile]).then(function () {
    registry = modeler.get("elementRegistry");
    canvas = modeler.get("canvas");
    modeling = modeler.get("modeling");
    selection = modeler.get("selection");
    overlays = modeler.get("overlays");
    eventBus = modeler.get("eventBus");
    moddle = modeler.get("moddle");
    var svg = $("modeler-canvas").querySelector("svg");
    if (svg) {
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", texts.zoomLabel);
    }
    paletteTooltips();
    readable();
    eventBus.on("selection.changed", function (event) { showDetails(event.newSelection[0] || null); });
    eventBus.on("elements.changed", function () { refreshElementList(); });
    eventBus.on("commandStack.changed", markDirty);
    refreshElementList();
    refreshFormList(schemaFiles()[0]);
    fillDiffChoices();
    markClean();
    $("modeler-canvas").setAttribute("data-ready", "true");
  }).catch(function (error) {
    $("modeler-canvas").setAttribute("data-ready", "error");
    $("deploy-result").textContent = texts.failed + " " + error.message;
  });
})();
