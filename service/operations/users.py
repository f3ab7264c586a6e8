"""Users: create them, sign them in (with the lock on wrong passwords), sign them out, change
their password, deactivate them, and issue tokens (API, CLI and demo data)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from service.actor import SYSTEM, Actor
from service.audit import record
from service.auth import hash_password, is_locked, issue_token, verify_password
from service.errors import Conflict, Invalid, Unauthorized
from service.models import DEFAULT_ORGANISATION, ApiToken, Organisation, User
from service.roles import DISTRICTS, ROLES
from service.services import Services

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")


def create_user(services: Services, username: str, *, roles: list[str], districts: list[str] | None = None,
                password: str | None = None, display_name: str | None = None, email: str | None = None,
                organisation: str = DEFAULT_ORGANISATION, actor: Actor = SYSTEM) -> User:
    errors: dict[str, list[str]] = {}
    if not USERNAME.match(username):
        errors["username"] = ["2–63 characters: lower-case letters, digits, . _ -"]
    unknown = sorted(set(roles) - ROLES)
    if not roles or unknown:
        errors["roles"] = [f"unknown role(s): {', '.join(unknown)}" if unknown else "at least one role"]
    bad_districts = sorted(set(districts or []) - DISTRICTS)
    if bad_districts:
        errors["districts"] = [f"unknown district(s): {', '.join(bad_districts)}"]
    if password is not None and len(password) < 8:
        errors["password"] = ["at least 8 characters"]
    if display_name is not None and (not display_name.strip() or len(display_name) > 200):
        errors["display_name"] = ["1–200 characters"]
    if errors:
        raise Invalid("the user is not valid", errors=errors)
    with services.db.command() as session:
        belongs_to = session.get(Organisation, organisation)
        if belongs_to is None:
            raise Invalid("the user is not valid", errors={"organisation": [f"no organisation {organisation!r}"]})
        if session.scalars(select(User).where(User.username == username)).first() is not None:
            raise Conflict(f"the user {username} exists")
        user = User(username=username, display_name=(display_name or username).strip(), email=email,
                    organisation_key=organisation,
                    password_hash=(hash_password(password, services.config.password_hash_method)
                                   if password else None), roles=sorted(set(roles)),
                    districts=sorted(set(districts or [])), created_at=services.now())
        session.add(user)
        user.organisation = belongs_to  # the returned user knows its organisation outside the session
        record(session, actor, "user_created", username=username, roles=user.roles, districts=user.districts,
               organisation=organisation)
    return user


REFUSED = "wrong username or password"  # the one answer for unknown, wrong, deactivated and locked


def sign_in(services: Services, username: str, password: str) -> User | None:
    """The user if ``password`` is theirs and the account is open, else None — one answer for an
    unknown name, a wrong password, a deactivated and a locked account, at the same cost.

    The lock: the ``login_lock_after``-th wrong password in a row shuts the account for
    ``login_lock_seconds``; each wrong password after a lock has run out doubles the period, up to
    ``login_lock_max_seconds``. While shut, attempts are refused unchecked and not counted. The
    right password (once open) resets the count. The count lives on the user row, so every node
    sees it; the password is checked outside any transaction, the count changes under the row's
    write lock (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so parallel wrong
    guesses are all counted.
    """
    with services.db.read() as session:
        user = session.scalars(select(User).where(User.username == username)).first() if username else None
    if user is not None and is_locked(user, services.now()):
        verify_password(None, password)  # the cost of a real check: a lock does not show in the timing
        return None
    if not verify_password(user, password):
        if user is not None and user.is_active:
            _count_wrong_password(services, user.id)
        return None
    assert user is not None  # verify_password is False for None
    if user.failed_logins or user.locked_until:
        with services.db.command() as session:
            row = _locked_user(session, User.id == user.id)
            # a lock set by guesses that landed while this password was being checked still holds
            if row is None or not row.is_active or is_locked(row, services.now()):
                return None
            row.failed_logins, row.locked_until = 0, None
    return user


def _count_wrong_password(services: Services, user_id: int) -> None:
    config = services.config
    with services.db.command() as session:
        user = _locked_user(session, User.id == user_id)
        now = services.now()
        if user is None or is_locked(user, now):
            return
        user.failed_logins += 1
        beyond = user.failed_logins - config.login_lock_after
        if beyond >= 0:
            seconds = min(config.login_lock_seconds * 2 ** min(beyond, 32), config.login_lock_max_seconds)
            user.locked_until = now + timedelta(seconds=seconds)
            record(session, SYSTEM, "account_locked", username=user.username, failures=user.failed_logins,
                   until=user.locked_until.isoformat())


def login(services: Services, username: str, password: str) -> tuple[str, datetime]:
    """Check a password (``sign_in``) and issue an API token: ``(token, expires_at)``."""
    user = sign_in(services, username, password)
    if user is None:
        raise Unauthorized(REFUSED)
    with services.db.command() as session:
        token, expires_at = issue_token(session, user, services.now(),
                                        timedelta(hours=services.config.token_lifetime_hours))
        record(session, Actor(user.username), "token_issued")
    return token, expires_at


def sign_out(services: Services, actor: Actor) -> None:
    """End every page session of ``actor`` on every node (their API tokens stay valid)."""
    with services.db.command() as session:
        user = _locked_user(session, User.username == actor.username)
        if user is not None:
            user.session_epoch += 1
        record(session, actor, "signed_out")


def set_password(services: Services, username: str, password: str, *, actor: Actor = SYSTEM) -> None:
    """A new password: ends the user's page sessions and revokes their API tokens, lifts a lock."""
    if len(password) < 8:
        raise Invalid("the password is not valid", errors={"password": ["at least 8 characters"]})
    with services.db.command() as session:
        user = _user_for_change(session, username)
        user.password_hash = hash_password(password, services.config.password_hash_method)
        user.failed_logins, user.locked_until = 0, None
        _end_sessions_and_tokens(session, user)
        record(session, actor, "password_changed", username=username)


def deactivate_user(services: Services, username: str, *, actor: Actor = SYSTEM) -> None:
    """The user can no longer sign in; their page sessions and API tokens stop working at once."""
    with services.db.command() as session:
        user = _user_for_change(session, username)
        user.is_active = False
        _end_sessions_and_tokens(session, user)
        record(session, actor, "user_deactivated", username=username)


def _user_for_change(session: Session, username: str) -> User:
    user = _locked_user(session, User.username == username)
    if user is None:
        raise Invalid("no such user", errors={"username": ["no such user"]})
    return user


def _locked_user(session: Session, condition: ColumnElement[bool]) -> User | None:
    """The user row, fresh and locked for this transaction on PostgreSQL (``OF``: the organisation
    is outer-joined, and only the user row is changed)."""
    return session.scalars(select(User).where(condition).with_for_update(of=User)
                           .execution_options(populate_existing=True)).first()


def _end_sessions_and_tokens(session: Session, user: User) -> None:
    user.session_epoch += 1
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def create_token(services: Services, username: str) -> str:
    with services.db.command() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise Invalid("no such user", errors={"username": ["no such user"]})
        token, _ = issue_token(session, user, services.now(), timedelta(hours=services.config.token_lifetime_hours))
        record(session, SYSTEM, "token_issued", username=username)
    return token
