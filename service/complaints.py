"""Decision support for R4: complaints about one provider, aggregated and flagged.

Every R4 instance keeps a de-identified record of its complaint (``klagomalspost``: provider,
category, district, received date, source) in its data. The summary reads those records from the
instance rows — never a workflow — marks ended cases closed, and lets
``processes.klagomal_privat_utforare.provider_complaint_summary`` count and flag them against the
configured thresholds ("recurring", "serious", "systematic").

EKU's follow-up is also event-driven: when a complaint reaches step 3 (its
``bedom_kvarstaende_brister`` task is created), every other open R4 case about the same provider
that waits for EKU's next follow-up gets it at once (:func:`wake_eku_follow_ups`, a
``tasks_created`` hook). Nothing of the complaint travels with it: the message carries no data.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.klagomal_privat_utforare import provider_complaint_summary

from .models import ProcessInstance

if TYPE_CHECKING:
    from .services import Services

logger = logging.getLogger(__name__)

PROCESS_KEY = "klagomal_privat_utforare"
#: The step 3 task, and the message an open EKU matter waits for between follow-ups.
STEP_3, EKU_EVENT = "bedom_kvarstaende_brister", "ny_handelse_eku"


def complaint_records(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(ProcessInstance.data, ProcessInstance.ended_at).where(
        ProcessInstance.process_key == PROCESS_KEY))
    records = []
    for data, ended_at in rows:
        record = data.get("klagomalspost") if isinstance(data, dict) else None
        if isinstance(record, dict) and record.get("provider"):
            records.append({**record, "closed": ended_at.date().isoformat() if ended_at else record.get("closed")})
    return records


def provider_summary(session: Session, provider: str, as_of: str) -> dict[str, Any]:
    return provider_complaint_summary(complaint_records(session), provider, as_of)  # type: ignore[no-any-return]


def _provider(data: Any) -> str | None:
    record = data.get("klagomalspost") if isinstance(data, dict) else None
    provider = record.get("provider") if isinstance(record, dict) else None
    return str(provider).strip().casefold() if provider else None


def wake_eku_follow_ups(services: Services, summaries: list[dict[str, Any]]) -> None:
    """The ``tasks_created`` hook: complaints that reached step 3 give EKU a new follow-up in every
    other open matter about the same provider. Never raises into the command that created the tasks."""
    reached = {s["instance_id"] for s in summaries if s.get("process") == PROCESS_KEY and s.get("name") == STEP_3}
    if not reached:
        return
    from .actor import SYSTEM
    from .operations.instances import deliver_message

    try:
        with services.db.read() as session:
            rows = list(session.execute(select(ProcessInstance.id, ProcessInstance.data, ProcessInstance.state,
                                               ProcessInstance.waits_for)
                                        .where(ProcessInstance.process_key == PROCESS_KEY)))
        providers = {_provider(data) for id_, data, _, _ in rows if id_ in reached} - {None}
        waiting = [id_ for id_, data, state, waits_for in rows
                   if id_ not in reached and state.is_active and EKU_EVENT in (waits_for or [])
                   and _provider(data) in providers]
    except Exception:  # noqa: BLE001 - a hook must not fail the command that already committed
        logger.exception("R4: could not look for open EKU matters")
        return
    for instance_id in waiting:
        try:
            deliver_message(services, SYSTEM, instance_id, EKU_EVENT, {})
        except Exception:  # noqa: BLE001 - one matter's failure must not stop the others
            logger.exception("R4: could not start EKU's follow-up in %s", instance_id)
