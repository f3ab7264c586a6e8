"""E-mail to the people a task is for: when it arrives, and once when it becomes overdue.

An outbox (``Notification`` rows) between the commands and the SMTP server:

- ``queue_in_command`` writes one "new task" row per recipient *in the command's own
  transaction* (``persist.apply_snapshot``, a hand-over), so a crash right after the commit loses
  no mail. ``Notifier.on_tasks_created`` (a ``tasks_created`` hook, after commit) only wakes the
  sender thread. Nothing talks to SMTP in a command, so a request returns whatever the mail server does.
- ``notify_overdue(services, now)`` (the scheduler's sweep calls it) writes rows for open tasks
  whose ``due_at`` has passed and that have had no overdue notice yet — once per task.
- ``deliver_pending(services, now)`` sends what is due with ``smtplib``; a failure is retried
  with backoff (``attempts``, ``next_attempt_at``). The ``Notifier`` thread calls it when woken
  and every ``poll_seconds``; the scheduler may call it too (rows are claimed, never sent twice).

Who is told: the assignee when the task has one; otherwise the active users holding a role of the
task's lane in the task's district (any district when the task has none). Only users with an
address. A user without case access (EKU, operators) is told only about tasks of their own lane.

What they are told (inre sekretess: e-mail leaves the system): the routine's name, the task's
name *as drawn in the diagram* and a link to the task's page (``TASK_PAGE``). Never the task's computed
title (diagrams build it from case data, e.g. ``'Granska ' + arende``), form data, the case
reference or anything personal. Everything is off unless ``SAMVERKAN_SMTP_HOST`` is set.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import smtplib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from .actor import NO_CASE_ACCESS_ROLES, OPERATOR_ROLES
from .clock import STOCKHOLM
from .config import Config
from .models import (
    HumanTask,
    InstanceState,
    Notification,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
    User,
)
from .services import Services

logger = logging.getLogger(__name__)

KIND_NEW_TASK = "new_task"
KIND_OVERDUE = "overdue"
BATCH = 100  # rows claimed (or overdue tasks looked at) per transaction
LEASE = timedelta(minutes=5)  # a claimed row is tried again after this if its sender died mid-send
FIRST_RETRY = timedelta(minutes=1)  # then 2, 4, 8 … minutes, at most MAX_RETRY apart
MAX_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 48  # about two days of an unreachable server; then the row stays unsent, with its error
SMTP_TIMEOUT = 30.0
NO_RECIPIENT = "ingen mottagare med e-postadress"
TASK_PAGE = "/uppgifter/{task_id}"  # the task's page (service/web/tasks), under SAMVERKAN_BASE_URL


# --- writing the outbox ----------------------------------------------------------------------

def queue_in_command(services: Services, session: Session, tasks: Sequence[HumanTask]) -> int:
    """Write the "new task" rows for ``tasks`` a command has just created (or handed over), in the
    command's transaction: they commit together or not at all. Returns the number of e-mails queued."""
    if not services.config.smtp_host or not tasks:
        return 0
    return _queue(services, session, [t for t in tasks if t.status == TaskStatus.OPEN], KIND_NEW_TASK,
                  services.now())


def notify_overdue(services: Services, now: datetime) -> int:
    """Queue one "overdue" e-mail per recipient for open tasks past ``due_at`` not yet reported.

    Repeat-safe and safe on several nodes: a task counts as reported once any overdue row for it
    exists (a row without recipient when nobody has an address). On PostgreSQL the candidate
    tasks are locked ``SKIP LOCKED`` and re-checked, so two sweeps never both report one task; on
    SQLite the command's ``BEGIN IMMEDIATE`` serialises them. Tasks of suspended instances wait
    until the instance resumes. Returns the number of e-mails queued.
    """
    if not services.config.smtp_host:
        return 0
    reported = exists().where(Notification.task_id == HumanTask.id, Notification.kind == KIND_OVERDUE)
    query = (select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
             .where(HumanTask.status == TaskStatus.OPEN, HumanTask.due_at.is_not(None), HumanTask.due_at <= now,
                    ProcessInstance.state != InstanceState.SUSPENDED, ~reported)
             .order_by(HumanTask.due_at).limit(BATCH))
    with services.db.command() as session:
        if services.db.is_sqlite:
            tasks = list(session.scalars(query))
        else:
            tasks = list(session.scalars(query.with_for_update(of=HumanTask, skip_locked=True)))
            if tasks:  # re-check after the lock: a sweep that held it may have reported them since
                done = set(session.scalars(select(Notification.task_id).where(
                    Notification.task_id.in_([t.id for t in tasks]), Notification.kind == KIND_OVERDUE)))
                tasks = [t for t in tasks if t.id not in done]
        return _queue(services, session, tasks, KIND_OVERDUE, now)


def _queue(services: Services, session: Session, tasks: Iterable[HumanTask], kind: str, now: datetime) -> int:
    tasks = list(tasks)
    if not tasks:
        return 0
    users = list(session.scalars(select(User).where(User.is_active, User.email.is_not(None), User.email != "")))
    definitions = {instance_id: definition for instance_id, definition in session.execute(
        select(ProcessInstance.id, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.id.in_(sorted({t.instance_id for t in tasks}))))}
    queued = 0
    for task in tasks:
        addresses = recipients(users, task)
        subject, body = compose(services, definitions.get(task.instance_id), task, kind)
        if not addresses:  # recorded, so the overdue sweep does not look at this task again
            session.add(Notification(kind=kind, task_id=task.id, recipient=None, subject=subject, body=body,
                                     created_at=now, sent_at=now, last_error=NO_RECIPIENT))
            continue
        for address in addresses:
            session.add(Notification(kind=kind, task_id=task.id, recipient=address, subject=subject, body=body,
                                     created_at=now, attempts=0, next_attempt_at=now))
            queued += 1
    return queued


def recipients(users: Iterable[User], task: HumanTask) -> list[str]:
    """The addresses to tell about ``task``: its assignee, else its lane in its district."""
    found: set[str] = set()
    for user in users:
        if not user.is_active or not user.email or not _may_hear_of(user, task.roles):
            continue
        if task.assignee is not None:
            if user.username == task.assignee:
                found.add(user.email.strip())
        elif set(user.roles) & set(task.roles) and (task.district is None or task.district in user.districts):
            found.add(user.email.strip())
    return sorted(a for a in found if a)


def _may_hear_of(user: User, task_roles: Iterable[str]) -> bool:
    """Users with case access may be told of their tasks; EKU and operators only of their own lane's."""
    roles = set(user.roles)
    if roles - NO_CASE_ACCESS_ROLES - OPERATOR_ROLES:
        return True
    return bool(roles & set(task_roles))


# --- what the e-mail says ------------------------------------------------------------------------

def compose(services: Services, definition: ProcessDefinition | None, task: HumanTask,
            kind: str) -> tuple[str, str]:
    """Subject and body in Swedish, with nothing a recipient without case access may not read."""
    routine = definition.name if definition is not None and definition.name else task.process_key
    label = task_label(services, definition, task.name)
    link = services.config.base_url.rstrip("/") + TASK_PAGE.format(task_id=task.id)
    if kind == KIND_OVERDUE:
        subject = f"Försenad uppgift: {label} ({routine})"
        due = task.due_at.astimezone(STOCKHOLM).strftime("%Y-%m-%d kl. %H:%M") if task.due_at else "okänd"
        intro = f"En uppgift skulle ha varit klar {due} och är fortfarande öppen."
        if task.assignee is None:
            intro += " Ingen har tagit den ännu."
    else:
        subject = f"Ny uppgift: {label} ({routine})"
        if task.assignee is not None:
            intro = "Du har fått en ny uppgift i Samverkan."
        elif task.lane:
            intro = (f"En ny uppgift har kommit till din grupp ({task.lane}) i Samverkan. "
                     "Den som tar den först blir ansvarig för den.")
        else:
            intro = "En ny uppgift väntar i Samverkan."
    body = "\n".join([
        "Hej!", "", intro, "",
        f"Rutin: {routine}",
        f"Uppgift: {label}",
        f"Öppna uppgiften: {link}", "",
        "Av sekretesskäl står inget om ärendet i det här meddelandet. Logga in i Samverkan för att läsa mer.",
        "Meddelandet skickas automatiskt och går inte att svara på.", "",
    ])
    return subject[:300], body


def task_label(services: Services, definition: ProcessDefinition | None, name: str) -> str:
    """The user task's ``name`` as drawn in the diagram (static text), else its BPMN id."""
    if definition is None:
        return name
    try:
        return services.engine.element_name(definition, name) or name
    except Exception:  # a spec that no longer parses still gets its mail, with the id
        logger.warning("no spec for definition %s; mailing task id %s", definition.id, name)
        return name


# --- sending ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Mail:
    id: int
    attempts: int  # as claimed: the guard for recording the outcome
    recipient: str
    subject: str
    body: str


@dataclass(frozen=True)
class _Outcome:
    mail: _Mail
    error: str | None = None
    permanent: bool = False


def deliver_pending(services: Services, now: datetime) -> int:
    """Send every row that is due at ``now``; returns how many were delivered.

    Each batch is claimed first (``attempts`` bumped where unchanged, ``next_attempt_at`` pushed a
    lease ahead), then sent over one SMTP connection, then the outcomes are written: sent, retry
    after a backoff, or given up (the server refused for good, or ``MAX_ATTEMPTS`` reached). Stops
    early when a batch delivered nothing (the server is down), leaving the rest to the next call.
    """
    if not services.config.smtp_host:
        return 0
    delivered = 0
    while True:
        mails = _claim_due(services, now)
        if not mails:
            return delivered
        outcomes = _send_all(services.config, mails, now)
        _record(services, outcomes, now)
        sent = sum(1 for o in outcomes if o.error is None)
        delivered += sent
        if not sent or len(mails) < BATCH:
            return delivered


def _claim_due(services: Services, now: datetime) -> list[_Mail]:
    with services.db.command() as session:
        due = session.execute(select(Notification.id, Notification.attempts).where(
            Notification.sent_at.is_(None), Notification.next_attempt_at.is_not(None),
            Notification.next_attempt_at <= now).order_by(Notification.next_attempt_at).limit(BATCH)).all()
        claimed = []
        for row_id, attempts in due:
            result = session.execute(
                update(Notification)
                .where(Notification.id == row_id, Notification.attempts == attempts, Notification.sent_at.is_(None))
                .values(attempts=attempts + 1, next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                claimed.append(row_id)
        if not claimed:
            return []
        rows = session.execute(select(Notification.id, Notification.attempts, Notification.recipient,
                                      Notification.subject, Notification.body)
                               .where(Notification.id.in_(claimed)).order_by(Notification.id)).all()
    return [_Mail(r.id, r.attempts, r.recipient or "", r.subject, r.body) for r in rows]


def _send_all(config: Config, mails: list[_Mail], now: datetime) -> list[_Outcome]:
    try:
        smtp = smtplib.SMTP(config.smtp_host or "", config.smtp_port, timeout=SMTP_TIMEOUT)
    except (OSError, smtplib.SMTPException) as err:
        logger.warning("SMTP server %s:%s unreachable: %s", config.smtp_host, config.smtp_port, err)
        return [_Outcome(m, _describe(err)) for m in mails]
    outcomes: list[_Outcome] = []
    try:
        for mail in mails:
            try:
                smtp.send_message(_message(config, mail, now))
                outcomes.append(_Outcome(mail))
            except smtplib.SMTPRecipientsRefused as err:
                codes = [code for code, _ in err.recipients.values()]
                outcomes.append(_Outcome(mail, _describe(err), permanent=all(c >= 500 for c in codes)))
            except smtplib.SMTPResponseException as err:  # sender refused, data refused, …
                outcomes.append(_Outcome(mail, _describe(err), permanent=err.smtp_code >= 500))
            except (OSError, smtplib.SMTPException) as err:  # the connection is gone: the rest fail too
                error = _describe(err)
                outcomes.extend(_Outcome(m, error) for m in mails[len(outcomes):])
                break
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return outcomes


def _message(config: Config, mail: _Mail, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.smtp_sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    domain = parseaddr(config.smtp_sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"samverkan.{mail.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the service
    message.set_content(mail.body, cte="quoted-printable")
    return message


def _record(services: Services, outcomes: list[_Outcome], now: datetime) -> None:
    with services.db.command() as session:
        for outcome in outcomes:
            mail = outcome.mail
            if outcome.error is None:
                values: dict[str, Any] = {"sent_at": now, "next_attempt_at": None, "last_error": None}
            elif outcome.permanent or mail.attempts >= MAX_ATTEMPTS:
                logger.error("giving up e-mail %s after %d attempt(s): %s", mail.id, mail.attempts, outcome.error)
                values = {"next_attempt_at": None, "last_error": outcome.error}
            else:
                values = {"next_attempt_at": now + backoff(mail.attempts), "last_error": outcome.error}
            session.execute(update(Notification)
                            .where(Notification.id == mail.id, Notification.attempts == mail.attempts)
                            .values(**values).execution_options(synchronize_session=False))


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after ``attempts`` failed ones: 1, 2, 4 … minutes, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:1000]


# --- the sender thread ---------------------------------------------------------------------------

class Notifier:
    """A small background sender: woken by the hook (and every ``poll_seconds``), sends what is due.

    ``create_app`` starts one when ``smtp_host`` is set and appends ``on_tasks_created`` to the
    ``tasks_created`` hooks. Retries need no wake-up: the poll picks them up when they are due.
    """

    def __init__(self, services: Services, *, poll_seconds: float = 30.0) -> None:
        self.services = services
        self.poll_seconds = poll_seconds
        self._wakeups: queue.Queue[None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="samverkan-notifier", daemon=True)
        self._thread.start()
        self.wake()  # whatever an earlier process left unsent

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wakeups.put(None)

    def on_tasks_created(self, summaries: list[dict[str, Any]]) -> None:
        """The ``tasks_created`` hook: the command has committed its e-mails; wake the sender."""
        self.wake()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(queue.Empty):  # the poll: retries fall due without a wake-up
                self._wakeups.get(timeout=self.poll_seconds)
            while not self._wakeups.empty():  # several wake-ups, one round
                self._wakeups.get_nowait()
            if self._stopping.is_set():
                return
            try:
                deliver_pending(self.services, self.services.now())
            except Exception:  # keep the thread alive; the next round retries
                logger.exception("sending e-mail failed")
