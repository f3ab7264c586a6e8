"""Create users and issue tokens (CLI and demo data)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from service.actor import SYSTEM, Actor
from service.audit import record
from service.auth import hash_password, issue_token, verify_password
from service.errors import Conflict, Invalid, Unauthorized
from service.models import DEFAULT_ORGANISATION, Organisation, User
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
        if session.get(Organisation, organisation) is None:
            raise Invalid("the user is not valid", errors={"organisation": [f"no organisation {organisation!r}"]})
        if session.scalars(select(User).where(User.username == username)).first() is not None:
            raise Conflict(f"the user {username} exists")
        user = User(username=username, display_name=(display_name or username).strip(), email=email,
                    organisation_key=organisation,
                    password_hash=(hash_password(password, services.config.password_hash_method)
                                   if password else None), roles=sorted(set(roles)),
                    districts=sorted(set(districts or [])), created_at=services.now())
        session.add(user)
        record(session, actor, "user_created", username=username, roles=user.roles, districts=user.districts,
               organisation=organisation)
    return user


def login(services: Services, username: str, password: str) -> tuple[str, object]:
    """Check a password and issue an API token: ``(token, expires_at)``."""
    with services.db.command() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if not verify_password(user, password):
            raise Unauthorized("wrong username or password")
        assert user is not None
        token, expires_at = issue_token(session, user, services.now(),
                                        timedelta(hours=services.config.token_lifetime_hours))
        record(session, Actor(user.username), "token_issued")
    return token, expires_at


def create_token(services: Services, username: str) -> str:
    with services.db.command() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise Invalid("no such user", errors={"username": ["no such user"]})
        token, _ = issue_token(session, user, services.now(), timedelta(hours=services.config.token_lifetime_hours))
        record(session, SYSTEM, "token_issued", username=username)
    return token
