"""Every read of case references or data is logged, through this one operation.

Single reads (a case, a task), lists (cases, the inbox) and exports all call :func:`record_reads`
with the instances whose references or data the response shows. An admin's break-glass read
records its reason as its own action, which the case's history shows.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.actor import Actor
from service.audit import append, event_row
from service.services import Services

#: What a read showed: one case, one task, a list of cases, the inbox, an export.
READ_KINDS = frozenset({"instance", "task", "list", "inbox", "export", "external_task"})


def record_reads(services: Services, actor: Actor, instance_ids: Iterable[str | None], *, kind: str,
                 task_id: str | None = None, reason: str | None = None) -> int:
    """Append one read event per instance shown (``break_glass`` when a reason is given); returns the count."""
    assert kind in READ_KINDS, kind
    ids = sorted({i for i in instance_ids if i})
    if not ids:
        return 0
    action = "break_glass" if reason else "case_read"
    extra = {"reason": reason} if reason else {}
    append(services.db, [event_row(actor, action, instance_id=instance_id, task_id=task_id, via=kind, **extra)
                         for instance_id in ids])
    return len(ids)
