"""The case context people read next to a task or an instance: earlier answers and the timeline.

Data arrives already shaped for the viewer (``service.access.case_data``: projected for people
outside the authority, de-identified for operators); this module only gives it the forms' Swedish
titles and labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from service.access import Lens
from service.models import Event, HumanTask, ProcessDefinition, TaskStatus

from .formview import display_value
from .layout import person_name, services


@dataclass
class Answer:
    label: str
    value: str
    parts: list[Answer] = field(default_factory=list)


@dataclass
class Step:
    title: str
    who: str | None
    at: datetime | None
    answers: list[Answer]


def _schemas(definition: ProcessDefinition) -> dict[str, Mapping[str, Any]]:
    return {name: form for name, form in definition.forms.items()
            if name.endswith(".schema.json") and isinstance(form, Mapping)}


def answer_of(schema: Mapping[str, Any], value: Any, label: str) -> Answer:
    """One answer with its label; objects and lists of objects keep their structure."""
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        return Answer(label, "", [answer_of(props.get(k) or {}, v, str((props.get(k) or {}).get("title") or k))
                                  for k, v in value.items()])
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        items = schema.get("items") or {}
        return Answer(label, "", [answer_of(items, v, f"{items.get('title') or label} {i}")
                                  for i, v in enumerate(value, start=1)])
    return Answer(label, display_value(schema, value))


def steps(definition: ProcessDefinition, data: Mapping[str, Any], tasks: Iterable[HumanTask],
          lens: Lens) -> list[Step]:
    """Earlier answers grouped by the step (start form, then each completed task) whose form asks them.

    A completed step shows what its completer submitted (``HumanTask.submitted``), so parallel
    branches — one per client — each keep their own answer even where the case data holds only the
    last one, for the steps the viewer may see that of (``lens.answers``). Other steps show ``data``,
    the case as the viewer may see it; titles and people are as the viewer's ``lens`` shows them."""
    schemas = _schemas(definition)
    shown: set[str] = set()
    result: list[Step] = []
    groups: list[tuple[str, str | None, datetime | None, Mapping[str, Any] | None, Mapping[str, Any]]] = [
        (_("Start"), None, None, schemas.get("start.schema.json"), data)]
    for task in tasks:
        if task.status == TaskStatus.COMPLETED:
            own = task.submitted if task.submitted and lens.answers(task) else data
            groups.append((lens.title(task), lens.person(task.completed_by), task.completed_at,
                           schemas.get(task.form_file or ""), own))
    # what was sent to the case as a message, under the message's form title ("Varaktigt behov konstaterat")
    for message, variable in services().engine.message_variables(definition).items():
        schema = schemas.get(f"message_{message}.schema.json")
        if schema and isinstance(data.get(variable), Mapping):
            groups.append((str(schema.get("title") or message), None, None, schema, data[variable]))
    # what a script recorded for people to read (``record_<variable>.schema.json``: R3's invoicing record)
    for name, schema in sorted(schemas.items()):
        if name.startswith("record_"):
            groups.append((str(schema.get("title") or name), None, None, schema, data))
    for title, who, at, schema, values in groups:
        if not schema:
            continue
        props = schema.get("properties") or {}
        per_step = values is not data  # a step's own answers are shown even when a sibling gave the same field
        answers = [answer_of(props[k], values[k], str(props[k].get("title") or k))
                   for k in props if k in values and (per_step or k not in shown)]
        shown.update(k for k in props if k in values)
        if answers:
            result.append(Step(title, who, at, answers))
    # fields some form declares but no completed step showed; the engine's own variables are not for people
    declared = {k: v for form in schemas.values() for k, v in (form.get("properties") or {}).items()
                if isinstance(v, Mapping)}
    rest = [k for k in data if k not in shown and k in declared]
    if rest:
        result.append(Step(_("Övriga uppgifter"), None, None,
                           [answer_of(declared[k], data[k], str(declared[k].get("title") or k)) for k in rest]))
    return result


def action_text(action: str) -> str:
    texts = {
        "instance_started": _("Ärendet startades"), "instance_completed": _("Ärendet avslutades"),
        "instance_error": _("Fel i ärendet"), "instance_suspend": _("Ärendet pausades"),
        "instance_resume": _("Ärendet återupptogs"), "instance_terminate": _("Ärendet avbröts"),
        "task_created": _("Ny uppgift"), "task_completed": _("Uppgiften slutfördes"),
        "task_claimed": _("Uppgiften togs"), "task_unclaimed": _("Uppgiften släpptes"),
        "task_assigned": _("Uppgiften lämnades över"), "task_delegated": _("Uppgiften gick till ersättare"),
        "task_cancelled": _("Uppgiften avbröts"), "timer_fired": _("Tidsgräns nåddes"),
        "message_delivered": _("Meddelande togs emot"), "case_read": _("Ärendet lästes"),
        "break_glass": _("Nödåtkomst: ärendet lästes av en driftansvarig"),
    }
    return texts.get(action, action)


@dataclass
class TimelineEntry:
    at: datetime
    actor: str
    text: str
    detail: str


def timeline(events: Iterable[Event], tasks: Iterable[HumanTask], lens: Lens, *, include_reads: bool = False,
             element_titles: Mapping[str, str] | None = None) -> list[TimelineEntry]:
    """What happened, newest last; task ids become task titles, reasons are shown to case workers.

    ``element_titles`` names other elements events mention (a timer's BPMN id → its title, an end
    event's id → its name; an id never reaches the page). A viewer
    who does not see identity (``lens``) sees no names but their own and a break-glass reader's (that
    read is meant to be seen), and the events of their own tasks in full: what happened to them, and
    who handed them over and why.
    """
    tasks = list(tasks)
    titles = {t.id: lens.title(t) for t in tasks}
    names = {**(element_titles or {}), **{t.name: lens.title(t) for t in tasks}}
    detail_for = {t.id for t in tasks if lens.owns(t)}
    with_detail = lens.identity
    entries = []
    for event in events:
        if event.action == "case_read" and not include_reads:
            continue
        detail = event.detail or {}
        subject = titles.get(event.task_id or "") or names.get(str(detail.get("task", ""))) or detail.get("task", "")
        parts = [str(subject)] if subject else []
        own = event.task_id in detail_for
        if with_detail or own:
            if detail.get("to_user"):
                parts.append(_("till %(user)s", user=person_name(str(detail["to_user"]))))
            if detail.get("reason"):
                parts.append(_("skäl: %(reason)s", reason=detail["reason"]))
            if detail.get("message"):  # a message received, by what sending it did
                parts.append(str(names.get(str(detail["message"])) or detail["message"]))
            if detail.get("outcome"):  # the end event reached, by its name in the diagram
                parts.append(str(names.get(str(detail["outcome"])) or _("avslutat")))
            if detail.get("error"):
                parts.append(str(detail["error"]))
        if event.action == "break_glass" and not with_detail and detail.get("reason"):
            parts.append(_("skäl: %(reason)s", reason=detail["reason"]))
        handed_over = own and event.action in ("task_assigned", "task_delegated")  # who gave me this task
        named = (with_detail or handed_over or event.action == "break_glass"
                 or event.actor == lens.actor.username)
        entries.append(TimelineEntry(event.at, event.actor if named else "–", action_text(event.action),
                                     " – ".join(parts)))
    return entries
