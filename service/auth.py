"""Passwords (hashed with scrypt), API tokens (random, stored as SHA-256) and session epochs.

A page session holds the username and the user's ``session_epoch`` at sign-in; it is good while
the two still match a row of an active user. Bumping the epoch (sign-out, new password,
deactivation: ``service.operations.users``) ends every page session of that user on every node.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .actor import Actor
from .models import ApiToken, User

# Checked against when the username is unknown, so both cases cost the same (no user enumeration).
_DUMMY_HASH = generate_password_hash("not-a-password", method="scrypt")


DEFAULT_HASH_METHOD = "scrypt"


def hash_password(password: str, method: str = DEFAULT_HASH_METHOD) -> str:
    return generate_password_hash(password, method=method)


def verify_password(user: User | None, password: str) -> bool:
    if user is None or not user.is_active or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(user.password_hash, password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, now: datetime, lifetime: timedelta) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), created_at=now, expires_at=expires_at))
    return token, expires_at


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if row is None or row.expires_at <= now or not row.user.is_active:
        return None
    return row.user


def token_epoch(session: Session, token: str, now: datetime) -> int | None:
    """The owner's session epoch if ``token`` is known, unexpired and of an active user, else None.

    One indexed query (token hash → user id), cheap enough for every API request: it lets a node
    reuse an actor it built earlier only while nothing about the user has changed since.
    """
    # On the session's connection: a column read needs none of the ORM's execution (half the cost).
    return session.connection().scalar(_TOKEN_EPOCH, {"token_hash": token_digest(token), "now": now})


_TOKEN_EPOCH = (select(User.session_epoch).join(ApiToken, ApiToken.user_id == User.id)  # built once: every request
                .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.expires_at > bindparam("now"),
                       User.is_active))


def token_expiry(session: Session, token: str) -> datetime:
    expires_at = session.scalar(select(ApiToken.expires_at).where(ApiToken.token_hash == token_digest(token)))
    assert expires_at is not None  # called right after user_for_token found it
    return expires_at


def active_user(session: Session, username: str) -> User | None:
    """The user signed in by a session cookie, if the account still exists and is active."""
    return session.scalars(select(User).where(User.username == username, User.is_active)).first()


def session_user(session: Session, username: str, epoch: object) -> User | None:
    """The user a page session belongs to, if still active and the session is of their current epoch."""
    if not isinstance(epoch, int):
        return None
    return session.scalars(select(User).where(User.username == username, User.is_active,
                                              User.session_epoch == epoch)).first()


def is_locked(user: User, now: datetime) -> bool:
    """True while too many wrong passwords keep the account shut (``operations.users.sign_in``)."""
    return user.locked_until is not None and user.locked_until > now


def actor_for(user: User) -> Actor:
    return Actor(username=user.username, roles=frozenset(user.roles), districts=frozenset(user.districts),
                 display_name=user.display_name, organisation=user.organisation_key,
                 organisation_kind=user.organisation_kind)
