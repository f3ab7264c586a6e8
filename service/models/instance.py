"""Process instances: the serialized workflow plus what reads need without deserializing it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from .base import Base, StrEnumType, new_id
from .definition import VERSIONS, ProcessDefinition, deployed_version

if TYPE_CHECKING:
    from .external_task import ExternalTask
    from .task import HumanTask
    from .timer import Timer


class InstanceState(StrEnum):
    RUNNING = "running"  # the engine has work, or people do
    WAITING = "waiting"  # only timers or messages are pending
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    ERROR = "error"  # an engine error; an admin may retry after fixing the cause

    @property
    def is_active(self) -> bool:
        return self in (InstanceState.RUNNING, InstanceState.WAITING, InstanceState.ERROR)


class ProcessInstance(Base):
    """One running (or ended) routine.

    Locking rule: every command loads this row *for update* (PostgreSQL ``SELECT … FOR UPDATE``;
    SQLite ``BEGIN IMMEDIATE``), runs the engine, and writes it back in the same transaction with
    ``version`` checked (SQLAlchemy's version counter). A second writer waits for the first and then
    sees the new state; a writer that somehow holds a stale copy fails the version check. Either way
    the loser gets 409 and nothing it did is kept.
    """

    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_instance_process_state", "process_key", "state"),
        # the instance lists' order (newest first): a page reads 20 index entries, not every row
        Index("ix_instance_started", text("started_at DESC"), "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    state: Mapped[InstanceState] = mapped_column(StrEnumType(InstanceState))
    case_ref: Mapped[str | None] = mapped_column(String(100), index=True, nullable=True)
    started_by: Mapped[str] = mapped_column(String(100), index=True)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The workflow as SpiffWorkflow serializes it, without its spec (specs are stored once per version);
    # empty once the instance has completed (nothing loads an ended workflow; the audit log is its history).
    workflow_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    # The process data as of the last step, for reads (redacted per role on the way out).
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    districts: Mapped[list[str]] = mapped_column(JSON)
    waits_for: Mapped[list[str]] = mapped_column(JSON, default=list)  # BPMN messages the instance waits for
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the end event reached
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(default=1)

    @property
    def definition(self) -> ProcessDefinition:
        """The version this instance runs (``deployed_version``): no join and, once this process has read
        the version, no query (instance rows are read on every command and list; a version's files are large)."""
        known: ProcessDefinition | None = self.__dict__.get("_definition")
        if known is None or known.id != self.definition_id:
            session = object_session(self)
            if session is not None:
                known = deployed_version(session, self.definition_id)
            elif self.__dict__.get("_versions") is not None:  # read, and its session has closed since
                known = self.__dict__["_versions"].get(self.definition_id)
            else:
                raise LookupError("the instance was made here and never added: set its definition")
            self.__dict__["_definition"] = known
        return known

    @definition.setter
    def definition(self, version: ProcessDefinition) -> None:
        self.definition_id = version.id
        self.__dict__["_definition"] = version

    # Never read (``raise``) nor cascaded: they only tell the ORM's unit of work, when it writes a
    # command's rows (``core_writes`` leaves them to it), that a new instance goes in before the rows
    # of the same flush that refer to it; ``core_writes`` itself orders tables by their foreign keys.
    _access_rows: Mapped[list[InstanceAccess]] = relationship(lazy="raise", cascade="", passive_deletes="all")
    _task_rows: Mapped[list[HumanTask]] = relationship(lazy="raise", cascade="", passive_deletes="all")
    _timer_rows: Mapped[list[Timer]] = relationship(lazy="raise", cascade="", passive_deletes="all")
    _disclosure_rows: Mapped[list[Disclosure]] = relationship(lazy="raise", cascade="", passive_deletes="all")
    _external_rows: Mapped[list[ExternalTask]] = relationship(lazy="raise", cascade="", passive_deletes="all")

    __mapper_args__ = {"version_id_col": version}


class InstanceAccess(Base):
    """Who may see an instance by name, and the districts it belongs to (``service/access/``).

    One row per (instance, kind, value); kind is ``user`` (started it, holds or held a task, is named
    responsible in its data, or was handed a task) or ``district`` (a stadsområde the case belongs
    to: its chef sees it). List queries join on this table.
    """

    __tablename__ = "instance_access"

    instance_id: Mapped[str] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # user | district
    value: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_instance_access_value", "kind", "value"),)


class Disclosure(Base):
    """A completed hand-over across a secrecy boundary: which fields reached which kind of organisation.

    Written when a task with ``disclosureTo`` completes, with the basis it rested on. People of that
    kind who see the case (they hold one of its tasks) see these fields too (``service/access/``).
    """

    __tablename__ = "disclosure"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    recipient_kind: Mapped[str] = mapped_column(String(20))  # an OrganisationKind value
    fields: Mapped[list[str]] = mapped_column(JSON)
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime]


@event.listens_for(ProcessInstance, "load")
def _remember_versions(instance: ProcessInstance, context: Any) -> None:
    """The versions of the database a loaded instance came from, so that ``definition`` still resolves
    once its session has closed (without keeping the session)."""
    instance.__dict__["_versions"] = context.session.info.get(VERSIONS)
