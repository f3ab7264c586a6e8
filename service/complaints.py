"""Decision support for R4: complaints about one provider, aggregated and flagged.

Every R4 instance keeps a de-identified record of its complaint (``klagomalspost``: provider,
category, district, received date, source) in its data. The summary reads those records from the
instance rows — never a workflow — marks ended cases closed, and lets
``processes.klagomal_privat_utforare.provider_complaint_summary`` count and flag them against the
configured thresholds ("recurring", "serious", "systematic").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.klagomal_privat_utforare import provider_complaint_summary

from .models import ProcessInstance

PROCESS_KEY = "klagomal_privat_utforare"


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
