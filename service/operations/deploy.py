"""Deploy diagrams and forms as new process-definition versions."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import func, select

from service.actor import Actor
from service.audit import record
from service.engine.specs import Bundle, LaneRoles, parse_bundle
from service.errors import Forbidden, Invalid, TooLarge
from service.models import ProcessDefinition
from service.services import Services


def deploy(services: Services, actor: Actor, files: Mapping[str, bytes], *,
           comment: str | None = None) -> list[ProcessDefinition]:
    """Validate ``files`` (filename → bytes) and store each executable process as a new version.

    Every problem is reported at once (``Invalid`` with ``extra['problems']``). Uploading a
    process identical to its latest version creates no new version and returns the latest.
    """
    if not actor.has("processagare", "admin"):
        raise Forbidden("deploying diagrams needs the role processagare")
    total = sum(len(content) for content in files.values())
    if total > services.config.max_upload_bytes:
        raise TooLarge(f"the upload is {total} bytes; the limit is {services.config.max_upload_bytes}")
    with services.db.read() as session:
        existing = _latest_forms(session)
    bundle = _parse(files, services.lanes, existing)
    if bundle.problems:
        problems = [p.as_dict() for p in bundle.problems]
        raise Invalid(f"the diagram has {len(problems)} problem(s)",
                      errors={"files": [_line(p) for p in problems]}, extra={"problems": problems})
    deployed: list[ProcessDefinition] = []
    with services.db.command() as session:
        for process in bundle.processes:
            checksum = bundle.checksum(process.key)
            latest = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == process.key)
                                     .order_by(ProcessDefinition.version.desc()).limit(1)).first()
            if latest is not None and latest.checksum == checksum:
                deployed.append(latest)
                continue
            forms = {name: bundle.forms[f"{process.key}/{name}"] for name in sorted(process.form_files)}
            definition = ProcessDefinition(
                key=process.key, version=(latest.version + 1) if latest else 1, name=process.name,
                bpmn_files=dict(bundle.bpmn_files), forms=forms, roles=process.roles,
                starter_roles=process.starter_roles or ["processagare"], checksum=checksum,
                deployed_by=actor.username, deployed_at=services.now(), comment=comment,
            )
            session.add(definition)
            session.flush()
            record(session, actor, "process_deployed", process=process.key, version=definition.version,
                   checksum=checksum)
            deployed.append(definition)
    return deployed


_PARSED: OrderedDict[str, Bundle] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 32


def _parse(files: Mapping[str, bytes], lanes: LaneRoles, existing: Mapping[str, Mapping[str, object]]) -> Bundle:
    """Parse a bundle, remembering results by content: the same files parse to the same specs.

    Deploying the same routine tree again (every node at start-up, every test) then costs a hash
    instead of a parse. The key covers everything the result depends on.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    digest.update(json.dumps(lanes.mapping, sort_keys=True).encode())
    digest.update(json.dumps(existing, sort_keys=True, default=str).encode())
    key = digest.hexdigest()
    with _PARSED_LOCK:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            return _PARSED[key]
    bundle = parse_bundle(files, lanes, existing_forms=existing)
    with _PARSED_LOCK:
        _PARSED[key] = bundle
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return bundle


def _line(problem: Mapping[str, str | None]) -> str:
    where = problem["file"] or "upload"
    if problem.get("element"):
        where += f" [{problem['element']}]"
    return f"{where}: {problem['message']}"


def _latest_forms(session) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version")).group_by(
        ProcessDefinition.key).subquery()
    rows = session.scalars(select(ProcessDefinition).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version)))
    return {row.key: dict(row.forms) for row in rows}


def read_tree(bpmn_dir: Path, forms_dir: Path) -> dict[str, bytes]:
    """The files of a routine tree (``bpmn/*.bpmn`` + ``forms/<key>/*.json``) as an upload."""
    files: dict[str, bytes] = {}
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        files[path.name] = path.read_bytes()
    if forms_dir.is_dir():
        for path in sorted(forms_dir.glob("*/*.json")):
            files[f"{path.parent.name}/{path.name}"] = path.read_bytes()
    return files


def deploy_tree(services: Services, actor: Actor, bpmn_dir: Path, forms_dir: Path) -> list[ProcessDefinition]:
    """Deploy each routine of a tree on its own, so one broken diagram does not block the others."""
    files = read_tree(bpmn_dir, forms_dir)
    deployed: list[ProcessDefinition] = []
    mains = sorted(name for name in files if name.endswith(".bpmn") and "__" not in name)
    problems: list[dict[str, str | None]] = []
    for main in mains:
        key = main[: -len(".bpmn")]
        bundle = {n: c for n, c in files.items()
                  if n == main or n.startswith(f"{key}__") or n.startswith(f"{key}/")}
        try:
            deployed.extend(deploy(services, actor, bundle))
        except Invalid as err:
            problems.extend(err.extra.get("problems", []))
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in {bpmn_dir}", extra={"problems": problems,
                      "deployed": [f"{d.key}:{d.version}" for d in deployed]},
                      errors={"files": [_line(p) for p in problems]})
    return deployed
