"""Drafts: a process owner saves a routine's diagrams and forms without deploying, and finds them again.

One draft per routine, shared by its process owners (the last save wins; the editor says who saved
it and when). A draft is never run: deploying it goes through ``service.operations.deploy``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from service.actor import Actor
from service.audit import record
from service.engine.xml import XmlRejected, parse_xml
from service.errors import Forbidden, Invalid, NotFound, TooLarge
from service.models import ProcessDefinition, ProcessDraft
from service.operations.deploy import lane_choice
from service.services import Services

EDITOR_ROLES = ("processagare", "admin")


def _require(actor: Actor) -> None:
    if not actor.has(*EDITOR_ROLES):
        raise Forbidden("drafts need the role processagare")


def _latest_version(session: Any, key: str) -> int:
    version = session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key))
    if version is None:
        raise NotFound(f"no deployed process {key!r}")
    return int(version)


def load_draft(services: Services, actor: Actor, key: str) -> ProcessDraft | None:
    _require(actor)
    with services.db.read() as session:
        return session.get(ProcessDraft, key)


def save_draft(services: Services, actor: Actor, key: str, bpmn_files: Mapping[str, Any],
               forms: Mapping[str, Any], *, base_version: int, comment: str | None = None,
               lanes: Any = None) -> ProcessDraft:
    """Store the draft of ``key`` (replacing any earlier one). Bad content is refused with a Swedish reason.

    ``lanes``: the roles chosen for lanes (as the deploy's ``lanes`` field), sent when it is deployed.
    """
    _require(actor)
    problems = _problems(key, bpmn_files, forms)
    try:
        chosen = lane_choice(lanes)
    except Invalid as err:
        chosen = {}
        problems += [str(p.get("text")) for p in err.extra.get("problems", [])]
    if problems:
        raise Invalid("the draft cannot be saved", errors={"draft": problems})
    size = sum(len(str(xml).encode()) for xml in bpmn_files.values()) + len(json.dumps(forms).encode())
    if size > services.config.max_upload_bytes:
        raise TooLarge(f"the draft is {size} bytes; the limit is {services.config.max_upload_bytes}")
    with services.db.command() as session:
        latest = _latest_version(session, key)
        if not 1 <= base_version <= latest:
            raise Invalid("unknown base version", errors={"draft": [f"Version {base_version} finns inte."]})
        draft = session.get(ProcessDraft, key) or ProcessDraft(key=key)
        draft.base_version = base_version
        draft.bpmn_files = {str(name): str(xml) for name, xml in bpmn_files.items()}
        draft.forms = {str(name): form for name, form in forms.items()}
        draft.lanes = chosen
        draft.comment = (comment or "").strip()[:500] or None
        draft.saved_by = actor.username
        draft.saved_at = services.now()
        session.add(draft)
        record(session, actor, "draft_saved", process=key, base_version=base_version)
        session.flush()
        session.expunge(draft)
    return draft


def discard_draft(services: Services, actor: Actor, key: str) -> bool:
    """Remove the draft of ``key``; False when there was none."""
    _require(actor)
    with services.db.command() as session:
        draft = session.get(ProcessDraft, key)
        if draft is None:
            return False
        session.delete(draft)
        record(session, actor, "draft_discarded", process=key)
    return True


def _problems(key: str, bpmn_files: Mapping[str, Any], forms: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if f"{key}.bpmn" not in bpmn_files:
        problems.append(f"Utkastet saknar diagrammet {key}.bpmn.")
    for name, xml in bpmn_files.items():
        decision_table = name.endswith(".dmn") and "/" not in name  # a DMN file deployed with the routine
        if not isinstance(xml, str) or not decision_table and (
                not (name == f"{key}.bpmn" or name.startswith(f"{key}__")) or not name.endswith(".bpmn")):
            problems.append(f"{name}: hör inte till rutinen.")
            continue
        try:
            parse_xml(xml.encode("utf-8"))
        except XmlRejected:
            problems.append(f"{name}: {'beslutstabellen' if decision_table else 'diagrammet'} är inte giltig XML.")
    for name, form in forms.items():
        if not name.endswith(".json") or "/" in name or not isinstance(form, dict):
            problems.append(f"{name}: formuläret måste vara ett JSON-objekt i en .json-fil.")
    return problems
