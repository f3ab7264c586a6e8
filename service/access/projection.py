"""What of a case each viewer sees (projection), decided by the forms' schemas, never by guessing.

Four views (``shared/DESIGN.md``, "What they see"):

- ``case`` — the authority's case workers with access to the case (and an admin who stated a
  break-glass reason): the whole case.
- ``outside`` — people of another organisation (a provider, the region, another förvaltning): the
  fields of the forms of the tasks they hold, held or are offered, plus the fields a completed
  hand-over disclosed to their organisation's kind. No case reference, nobody else's name.
- ``eku`` — the non-personal fields EKU's own task forms declare, and only values the authority
  wrote into those fields through a form that declares them (``HumanTask.submitted``).
- ``operator`` — admin and other operators: de-identified. A value is kept only when the schema
  that declares its field says it is a closed value (a choice, a yes/no, a number, a date) and not
  personal; free text, names, case references and undeclared values are removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from service.actor import Actor
from service.models import Disclosure, HumanTask, ProcessDefinition, TaskStatus

from .visibility import own_tasks

#: ``disclosureTo`` recipient categories → the kind of organisation they reach.
RECIPIENT_KINDS = {"andra_utforare": "utforare", "region": "region", "eku": "eku", "annan_namnd": "annan_forvaltning",
                   "annan_forvaltning": "annan_forvaltning"}
_CLOSED_FORMATS = frozenset({"date", "date-time", "time"})
_ELEMENT = re.compile(r"^([A-Za-z_][\w.-]{0,99}): ")


class View(StrEnum):
    CASE = "case"
    OUTSIDE = "outside"
    EKU = "eku"
    OPERATOR = "operator"


def view_of(actor: Actor, *, break_glass: bool = False) -> View:
    if actor.is_system or actor.has_case_access or (break_glass and actor.has("admin")):
        return View.CASE
    if actor.organisation_kind == "eku" or actor.has("eku"):
        return View.EKU
    if not actor.is_authority:
        return View.OUTSIDE
    return View.OPERATOR


def _form(definition: ProcessDefinition, task: HumanTask) -> Mapping[str, Any]:
    form = definition.forms.get(task.form_file or "")
    return form if isinstance(form, Mapping) else {}


def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def outside_fields(actor: Actor, definition: ProcessDefinition, tasks: Iterable[HumanTask],
                   disclosures: Iterable[Disclosure], started_by: str | None = None) -> set[str]:
    """Fields of the forms of the actor's own tasks (the start form, when they started the case),
    plus what hand-overs disclosed to their kind."""
    fields = {name for task in own_tasks(actor, tasks) for name in _properties(_form(definition, task))}
    if started_by == actor.username:
        start = definition.forms.get("start.schema.json")
        fields.update(_properties(start) if isinstance(start, Mapping) else {})
    fields.update(name for d in disclosures if d.recipient_kind == actor.organisation_kind for name in d.fields)
    return fields


def _eku_values(actor: Actor, definition: ProcessDefinition, tasks: list[HumanTask]) -> dict[str, Any]:
    """Non-personal fields of EKU's own forms, with the value the authority last wrote through a form."""
    wanted: dict[str, Any] = {}
    for task in own_tasks(actor, tasks):
        for name, schema in _properties(_form(definition, task)).items():
            if isinstance(schema, Mapping) and not schema.get("x-personal-data"):
                wanted[name] = schema
    values: dict[str, Any] = {}
    written = sorted((t for t in tasks if t.status == TaskStatus.COMPLETED and t.submitted
                      and t.completed_by_kind == "myndighet"), key=lambda t: (t.completed_at, t.id))
    for task in written:
        assert task.submitted is not None
        declared = _properties(_form(definition, task))
        for name, value in task.submitted.items():
            if name in wanted and name in declared:
                values[name] = _without_personal(wanted[name], value)
    return values


def _without_personal(schema: Any, value: Any) -> Any:
    """``value`` with nested fields its schema marks personal removed."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, Mapping):
        props = _properties(schema)
        return {k: _without_personal(props.get(k), v) for k, v in value.items()
                if not (isinstance(props.get(k), Mapping) and props[k].get("x-personal-data"))}
    if isinstance(value, list):
        return [_without_personal(schema.get("items"), v) for v in value]
    return value


def _declarations(definition: ProcessDefinition) -> dict[str, Mapping[str, Any]]:
    """Every top-level field any form of the definition declares → its schema (the first declaration)."""
    found: dict[str, Mapping[str, Any]] = {}
    for name, form in sorted(definition.forms.items()):
        if name.endswith(".schema.json") and isinstance(form, Mapping):
            for field, schema in _properties(form).items():
                if isinstance(schema, Mapping):
                    found.setdefault(field, schema)
    return found


def _closed(schema: Mapping[str, Any], value: Any) -> tuple[bool, Any]:
    """Whether a value is de-identified by its schema, and the value with its open parts removed."""
    if schema.get("x-personal-data"):
        return False, None
    if "enum" in schema or "const" in schema:
        return True, value
    kind = schema.get("type")
    if isinstance(value, bool) or kind in ("boolean", "integer", "number"):
        return not isinstance(value, str), value
    if kind == "string" and schema.get("format") in _CLOSED_FORMATS:
        return True, value
    if kind == "string" and schema.get("x-organisation"):
        return True, value  # an organisation's key: who provides, not who is helped
    if isinstance(value, Mapping):
        props = _properties(schema)
        kept = {}
        for key, item in value.items():
            ok, shown = _closed(props.get(key) or {}, item)
            if ok:
                kept[key] = shown
        return True, kept
    if isinstance(value, list):
        items: Mapping[str, Any] = schema["items"] if isinstance(schema.get("items"), Mapping) else {}
        kept_items = [shown for ok, shown in (_closed(items, v) for v in value) if ok]
        return True, kept_items
    return False, None


def deidentified(definition: ProcessDefinition, data: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's view: only values whose declaring schema says they are closed and not personal."""
    declarations = _declarations(definition)
    kept: dict[str, Any] = {}
    for name, value in data.items():
        schema = declarations.get(name)
        if schema is None:
            if isinstance(value, bool):  # a flag a script set: says nothing about who
                kept[name] = value
            continue
        ok, shown = _closed(schema, value)
        if ok:
            kept[name] = shown
    return kept


def case_data(actor: Actor, definition: ProcessDefinition, data: Mapping[str, Any], tasks: Iterable[HumanTask],
              disclosures: Iterable[Disclosure], *, started_by: str | None = None,
              break_glass: bool = False) -> dict[str, Any]:
    """The instance's data as ``actor`` may see it (``started_by``: the case's starter)."""
    tasks = list(tasks)
    match view_of(actor, break_glass=break_glass):
        case View.CASE:
            return dict(data)
        case View.OUTSIDE:
            fields = outside_fields(actor, definition, tasks, disclosures, started_by)
            return {k: v for k, v in data.items() if k in fields and k != "case_ref"}
        case View.EKU:
            return _eku_values(actor, definition, tasks)
        case View.OPERATOR:
            return deidentified(definition, data)


def task_data(actor: Actor, definition: ProcessDefinition, task: HumanTask, tasks: Iterable[HumanTask],
              disclosures: Iterable[Disclosure], started_by: str | None = None) -> dict[str, Any]:
    """A task's data (as it arrived) as ``actor`` may see it; its own form's fields at most, outside."""
    match view_of(actor):
        case View.CASE:
            return dict(task.data)
        case View.OUTSIDE:
            fields = outside_fields(actor, definition, tasks, disclosures, started_by) | set(
                _properties(_form(definition, task)))
            return {k: v for k, v in task.data.items() if k in fields and k != "case_ref"}
        case View.EKU:
            return _eku_values(actor, definition, list(tasks))
        case View.OPERATOR:
            return deidentified(definition, task.data)


def shows_identity(actor: Actor, *, break_glass: bool = False) -> bool:
    """Whether the viewer sees case references, staff names and error texts of a case."""
    return view_of(actor, break_glass=break_glass) == View.CASE


def person(actor: Actor, username: str | None, *, break_glass: bool = False) -> str | None:
    """A username as the viewer may see it: case workers see names; others only their own."""
    if username is None or shows_identity(actor, break_glass=break_glass) or username == actor.username:
        return username
    return None


def error_text(actor: Actor, error: str | None, *, break_glass: bool = False) -> str | None:
    """An engine error as the viewer may see it: others get the failing element, not the message
    (a message may quote case data)."""
    if error is None or shows_identity(actor, break_glass=break_glass):
        return error
    match = _ELEMENT.match(error)
    return f"{match.group(1)}: fel i steget" if match else "fel i ärendet"
