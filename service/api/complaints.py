"""R4 decision support: a provider's complaints, counted and flagged (provider-level, de-identified)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from service.complaints import provider_summary

from . import api
from .context import require, services
from .registry import endpoint


@endpoint(api, "/providers/<provider>/complaints", "GET",
          summary="A provider's complaints: counts by category, district and source, and threshold flags",
          tag="monitoring", roles=("enhetschef_myndighet", "chef", "eku", "admin"))
def complaints_summary(provider: str) -> Any:
    require("enhetschef_myndighet", "chef", "eku", "admin")
    svc = services()
    with svc.db.read() as session:
        summary = provider_summary(session, provider, svc.clock.local_now().date().isoformat())
    return jsonify(summary)
