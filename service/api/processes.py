"""Process definitions: list, read, download BPMN, deploy."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from marshmallow import Schema, fields, validate

from service.directory import with_choices
from service.errors import BadRequest, Invalid, NotFound, TooLarge
from service.models import ProcessDefinition
from service.operations.deploy import Deployment, deploy_files
from service.operations.instances import latest_versions, versions_of
from service.operations.migration import MAX_INSTANCES, migrate

from . import api
from .context import current_actor, json_body, require, services
from .registry import endpoint
from .schemas import DeployedSchema, DeployProblemSchema, ProcessDetailSchema, ProcessSchema, page_of


class DeployAnswerSchema(DeployedSchema):
    # The keys whose upload equals their latest version: nothing new was made, ``deployed`` holds that version.
    unchanged = fields.List(fields.String())
    message = fields.String()  # what happened, in Swedish, for a person
    # what deploy assumed or rewrote (default actors, generated forms, translated conditions), as problems read
    warnings = fields.List(fields.Nested(DeployProblemSchema))


class VersionQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1))


@endpoint(api, "/processes", "GET", summary="Deployed process definitions (latest versions)", tag="processes",
          response=page_of(ProcessSchema))
def list_processes() -> Any:
    current_actor()
    with services().db.read() as session:
        rows = latest_versions(session)
    items = ProcessSchema(many=True).dump(rows)
    return {"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)}


def _versions(key: str) -> list[ProcessDefinition]:
    with services().db.read() as session:
        rows = versions_of(session, key)
    if not rows:
        raise NotFound(f"no deployed process {key!r}")
    return rows


@endpoint(api, "/processes/<key>", "GET", summary="One process definition with its versions", tag="processes",
          response=ProcessDetailSchema)
def get_process(key: str) -> Any:
    actor = current_actor()
    assert actor is not None
    versions = _versions(key)
    latest = versions[0]
    fields = ("key", "name", "version", "deployed_at", "deployed_by", "checksum", "starter_roles", "lanes")
    start = services().engine.start_form(latest)
    with services().db.read() as session:
        schema = None if start is None else with_choices(session, actor, latest.forms.get(start))
    start_form = None if start is None else {
        "schema": schema,
        "ui_schema": latest.forms.get(start.replace(".schema.json", ".uischema.json"))}
    return ProcessDetailSchema().dump({**{f: getattr(latest, f) for f in fields}, "versions": versions,
                                       "forms": latest.forms, "start_form": start_form,
                                       "lane_roles": services().engine.lane_roles(latest)})


@endpoint(api, "/processes/<key>/bpmn", "GET", summary="The BPMN XML (?version= for an older one)",
          tag="processes", query=VersionQuerySchema)
def get_bpmn(key: str) -> Any:
    current_actor()
    query = VersionQuerySchema().load(request.args)
    versions = _versions(key)
    wanted = query.get("version")
    definition = next((d for d in versions if wanted is None or d.version == wanted), None)
    if definition is None:
        raise NotFound(f"{key} has no version {wanted}")
    return Response(definition.bpmn_xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{key}.v{definition.version}.bpmn"'})


@endpoint(api, "/processes", "POST", summary="Deploy new versions: multipart .bpmn, .dmn and form files",
          tag="processes", response=DeployAnswerSchema, status=201, roles=("processagare",), multipart=True)
def deploy_processes() -> Any:
    actor = require("processagare", "admin")
    limit = services().config.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise TooLarge(f"the upload is larger than {limit} bytes")
    if not request.files:
        raise BadRequest("upload the diagrams as multipart/form-data files")
    files: dict[str, bytes] = {}
    for _field, storage in request.files.items(multi=True):
        name = (storage.filename or "").replace("\\", "/").lstrip("/")
        if not name or ".." in name.split("/"):
            raise BadRequest(f"unacceptable file name {storage.filename!r}")
        files[name] = storage.read(limit + 1)
    # lanes: JSON object lane name → role keys, for lanes bpmn/lanes.json does not map (or maps otherwise)
    result = deploy_files(services(), actor, files, comment=request.form.get("comment"),
                          lanes=request.form.get("lanes"))
    return DeployAnswerSchema().dump({"deployed": result.definitions, "unchanged": sorted(result.unchanged),
                                      "message": _said(result), "warnings": result.warnings}), 201


def _said(result: Deployment) -> str:
    new = [d for d in result.definitions if d.key not in result.unchanged]
    parts = [f"{d.name} version {d.version} är driftsatt." for d in new]
    parts += [f"{d.name} är oförändrad: ingen ny version, version {d.version} gäller."
              for d in result.definitions if d.key in result.unchanged]
    return " ".join(parts)


class MigrationCreateSchema(Schema):
    to_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    # the instance ids to move, or "all" (every running instance on another version)
    instances = fields.Raw(required=True)
    mapping = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)),
                          values=fields.String(validate=validate.Length(min=1, max=200)), load_default=dict)
    dry_run = fields.Boolean(load_default=True)


class MigrationVerdictSchema(Schema):
    instance_id = fields.String()
    from_version = fields.Integer()
    movable = fields.Boolean()
    reasons = fields.List(fields.String())  # why it cannot move, in Swedish
    moved = fields.List(fields.String())  # the elements its live tasks stand on in the new version


class MigrationAnswerSchema(Schema):
    process = fields.String()
    to_version = fields.Integer()
    dry_run = fields.Boolean()
    moved = fields.List(fields.Nested(MigrationVerdictSchema))  # in a dry run: those that can move
    refused = fields.List(fields.Nested(MigrationVerdictSchema))


@endpoint(api, "/processes/<key>/migrations", "POST", tag="processes", body=MigrationCreateSchema,
          summary="Move running instances to another version (dry_run: only say which can move and why not)",
          response=MigrationAnswerSchema, roles=("processagare",))
def migrate_instances(key: str) -> Any:
    actor = require("processagare", "admin")
    body = MigrationCreateSchema().load(json_body())
    wanted = body["instances"]
    if wanted != "all" and not (isinstance(wanted, list) and wanted and len(wanted) <= MAX_INSTANCES
                                and all(isinstance(i, str) and 0 < len(i) <= 36 for i in wanted)):
        raise Invalid("instances is a list of instance ids or \"all\"",
                      errors={"instances": ["ange ärendenas id som en lista, eller \"all\""]})
    result = migrate(services(), actor, key, body["to_version"], wanted, body["mapping"], dry_run=body["dry_run"])
    return MigrationAnswerSchema().dump(result)
