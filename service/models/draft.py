"""A routine's draft: diagrams and forms a process owner saved without deploying."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ProcessDraft(Base):
    """Work in progress on one routine, shared by its process owners: one draft per routine, the last save wins.

    It is never run: deploying checks and stores it as a version (``service.operations.deploy``).
    """

    __tablename__ = "process_draft"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The version the draft was made from (the editor warns when a newer one has been deployed since).
    base_version: Mapped[int]
    bpmn_files: Mapped[dict[str, Any]] = mapped_column(JSON)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    # lane name -> role keys chosen in the editor (sent as the deploy's ``lanes``)
    lanes: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    saved_by: Mapped[str] = mapped_column(String(100))
    saved_at: Mapped[datetime]
