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
from sqlalchemy import select

from service.errors import NotFound
from service.models import ProcessDefinition

from .. import assets
from ..formview import build_form
from ..layout import page_blueprint, services, signed_in
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
        rows = list(db.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                               .order_by(ProcessDefinition.version.desc())))
    if not rows:
        raise NotFound("no such routine")
    return rows


@bp.get("/rutiner/<key>")
@signed_in(*EDITOR_ROLES)
def edit(key: str) -> Any:
    """The modeler on the latest version, the form editor, and the version list."""
    versions = _versions(key)
    latest = versions[0]
    model = {
        "key": key,
        "mainFile": latest.main_file,
        "bpmnFiles": latest.bpmn_files,
        "forms": latest.forms,
        "lanes": sorted(services().lanes.mapping),
        "version": latest.version,
        "previewUrl": url_for("editor.preview"),
        "deployUrl": url_for("api.deploy_processes"),
    }
    return render_template("editor/edit.html", definition=latest, versions=versions, model=model,
                           has_modeler=assets.available())


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

