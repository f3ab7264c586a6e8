"""Deployed process definitions: one row per (key, version)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Engine, ForeignKey, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, Session, mapped_column

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


class DeployedVersions:
    """The deployed versions of one database this process has read, by id: read once, not with each instance.

    A version is immutable once written (above), so the copy read first stays true. It is read in a
    session of its own and kept detached, the same object for every session and thread; nothing may
    change it. One per database (``Database``; its sessions carry it in ``info``): one process may
    serve several databases (a restore, the tests), where ids repeat.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: dict[int, ProcessDefinition] = {}
        self._lock = threading.Lock()

    def get(self, definition_id: int, session: Session | None = None) -> ProcessDefinition:
        """The version ``definition_id``; ``session`` (one of this database's) also finds one its own
        transaction has written and not yet committed."""
        found = self._known.get(definition_id)
        if found is not None:
            return found
        with Session(self._engine) as own:  # a plain read: never the caller's write transaction
            found = own.get(ProcessDefinition, definition_id)
        if found is None:  # written by the caller's own transaction, not committed yet: not shared
            own_copy = session.get(ProcessDefinition, definition_id) if session is not None else None
            if own_copy is None:
                raise LookupError(f"no deployed version with id {definition_id}")
            return own_copy
        with self._lock:
            return self._known.setdefault(definition_id, found)


VERSIONS = "samverkan_versions"  # Session.info: the ``DeployedVersions`` of the session's database


def deployed_version(session: Session, definition_id: int) -> ProcessDefinition:
    """The version ``definition_id`` of the database ``session`` belongs to (one of ``Database``'s sessions)."""
    versions: DeployedVersions = session.info[VERSIONS]
    return versions.get(definition_id, session)
