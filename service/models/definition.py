"""Deployed process definitions: one row per (key, version)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ProcessDefinition(Base):
    """A version of a routine as deployed: its BPMN files and form files, immutable once written.

    Running instances keep the version they started on; the parsed spec is cached per row id.
    """

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version", name="key_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(300))
    # filename -> BPMN XML; the main diagram is "<key>.bpmn", call activities "<key>__<part>.bpmn".
    bpmn_files: Mapped[dict[str, Any]] = mapped_column(JSON)
    # filename -> parsed JSON (JSON Schema / UI schema), pinned to this version.
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Role keys that act in the diagram's lanes, and the roles allowed to start it.
    roles: Mapped[list[str]] = mapped_column(JSON)
    starter_roles: Mapped[list[str]] = mapped_column(JSON)
    # Lane name -> role keys the deployer chose for this version; lanes not named here follow bpmn/lanes.json.
    lanes: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    checksum: Mapped[str] = mapped_column(String(64))
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime]
    deployed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def main_file(self) -> str:
        return f"{self.key}.bpmn"

    @property
    def bpmn_xml(self) -> str:
        return str(self.bpmn_files[self.main_file])
