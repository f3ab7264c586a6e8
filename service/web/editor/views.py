"""The process owners' editor: the bpmn-js modeler on a routine, its forms, versions, deploy.

Deploying goes through the API (``POST /api/v1/processes``, the session cookie plus the page's
``X-CSRF-Token``), which calls ``service.operations.deploy`` — the one place diagrams are checked
and stored. Every problem it finds comes back with its element, and the page marks it there.
Running instances stay on the version they started on; a deploy only adds a version.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from flask import Response, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from service.errors import Invalid, NotFound
from service.models import ProcessDefinition
from service.operations.drafts import discard_draft, load_draft, save_draft
from service.operations.instances import versions_of
from service.roles import LANE_ROLES, ROLE_LABELS

from .. import assets
from ..formview import build_form
from ..i18n import when
from ..layout import actor_required, page_blueprint, services, signed_in
from ..routines import latest_definitions

bp = page_blueprint("editor", __name__)

EDITOR_ROLES = ("processagare", "admin")


@bp.get("/rutiner")
@signed_in(*EDITOR_ROLES)
def routines() -> Any:
    with services().db.read() as db:
        definitions = latest_definitions(db)
    return render_template("editor/routines.html", definitions=definitions)


def _versions(key: str) -> list[ProcessDefinition]:
    with services().db.read() as db:
        rows = versions_of(db, key)
    if not rows:
        raise NotFound("no such routine")
    return rows


@bp.get("/rutiner/<key>")
@signed_in(*EDITOR_ROLES)
def edit(key: str) -> Any:
    """The modeler on the latest version (or on the routine's draft, ``?utkast=1``), the form editor,
    the version list with a diff between any two, and deploy."""
    versions = _versions(key)
    latest = versions[0]
    draft = load_draft(services(), actor_required(), key)
    editing_draft = draft is not None and request.args.get("utkast") == "1"
    source = draft if editing_draft and draft is not None else latest
    model = {
        "key": key,
        "mainFile": latest.main_file,
        "bpmnFiles": source.bpmn_files,
        "forms": source.forms,
        "deployed": {"version": latest.version, "xml": latest.bpmn_xml, "forms": latest.forms,
                     "lanes": latest.lanes or {}},
        "lanes": sorted(services().lanes.mapping),
        # the roles chosen for lanes bpmn/lanes.json does not map (the draft's, else the version's own)
        "laneChoices": dict((draft.lanes if editing_draft and draft is not None else latest.lanes) or {}),
        "roles": [{"key": key, "label": ROLE_LABELS[key]}
                  for key in sorted(LANE_ROLES, key=lambda k: ROLE_LABELS[k].casefold())],
        "version": latest.version,
        "editingDraft": editing_draft,
        "baseVersion": draft.base_version if editing_draft and draft is not None else latest.version,
        "draftXml": None if draft is None else draft.bpmn_files.get(latest.main_file),
        "versions": [{"version": v.version, "url": url_for("api.get_bpmn", key=key, version=v.version)}
                     for v in versions],
        "previewUrl": url_for("editor.preview"),
        "deployUrl": url_for("api.deploy_processes"),
        "draftUrl": url_for("editor.draft", key=key),
        "editUrl": url_for("editor.edit", key=key),
    }
    return render_template("editor/edit.html", definition=latest, versions=versions, model=model,
                           draft=draft, editing_draft=editing_draft, has_modeler=assets.available(),
                           dmn_files=sorted(n for n in source.bpmn_files if n.endswith(".dmn") and "/" not in n),
                           has_dmn_modeler=assets.dmn_available())


@bp.route("/rutiner/<key>/utkast", methods=["POST", "DELETE"])
@signed_in(*EDITOR_ROLES)
def draft(key: str) -> Any:
    """Save the editor's work as the routine's draft (JSON ``{bpmnFiles, forms, baseVersion, comment, lanes}``),
    or discard it."""
    actor = actor_required()
    _versions(key)
    if request.method == "DELETE":
        discard_draft(services(), actor, key)
        return jsonify({"message": _("Utkastet är borttaget.")})
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("bpmnFiles"), dict) \
            or not isinstance(body.get("forms"), dict) or not isinstance(body.get("baseVersion"), int):
        return jsonify({"problems": [_("Utkastet kunde inte läsas. Ladda om sidan och försök igen.")]}), 400
    try:
        saved = save_draft(services(), actor, key, body["bpmnFiles"], body["forms"],
                           base_version=body["baseVersion"], comment=body.get("comment"), lanes=body.get("lanes"))
    except Invalid as err:
        return jsonify({"problems": (err.errors or {}).get("draft", [err.detail])}), 422
    return jsonify({"message": _("Utkastet är sparat (%(when)s). Det är inte driftsatt.",
                                 when=when(saved.saved_at))})


@bp.get("/rutiner/<key>/versioner/<int:version>.zip")
@signed_in(*EDITOR_ROLES)
def download(key: str, version: int) -> Response:
    """A version as deployed: its diagrams and forms, laid out as in the repository (bpmn/, forms/<key>/)."""
    definition = next((d for d in _versions(key) if d.version == version), None)
    if definition is None:
        raise NotFound("no such version")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in sorted(definition.bpmn_files.items()):
            archive.writestr(f"bpmn/{name}", str(xml))
        for name, form in sorted(definition.forms.items()):
            archive.writestr(f"forms/{key}/{name}", json.dumps(form, ensure_ascii=False, indent=2) + "\n")
    return Response(buffer.getvalue(), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{key}.v{version}.zip"'})


@bp.post("/rutiner/forhandsgranska")
@signed_in(*EDITOR_ROLES)
def preview() -> Any:
    """The form as staff will see it, rendered by the same templates as the task page (live preview)."""
    body = request.get_json(silent=True) or {}
    schema, ui = body.get("schema"), body.get("ui") or {}
    problems: list[str] = []
    if not isinstance(schema, dict):
        problems.append(_("Schemat måste vara ett JSON-objekt."))
        schema = {}
    else:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            problems.append(_("Inte ett giltigt JSON Schema: %(reason)s", reason=err.message))
    if not isinstance(ui, dict):
        problems.append(_("UI-schemat måste vara ett JSON-objekt."))
        ui = {}
    view = build_form(schema, ui, {}, None)
    html = render_template("editor/_preview.html", view=view, problems=problems)
    return jsonify({"html": html, "problems": problems})

