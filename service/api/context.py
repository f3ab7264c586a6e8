"""Per-request access to the services and the authenticated actor."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, request, session

from service.actor import Actor
from service.auth import active_user, actor_for, token_digest, token_expiry, user_for_token
from service.errors import BadRequest, Forbidden, Unauthorized
from service.services import Services
from service.web.csrf import HEADER as CSRF_HEADER
from service.web.csrf import SAFE_METHODS
from service.web.csrf import matches as csrf_matches

TOKEN_CACHE_TTL = timedelta(seconds=10)


class _TokenCache:
    """Recently checked tokens → their actor, for a few seconds (never past the token's expiry).

    Every API request carries a token; looking it up is a query per request. A deactivated user or
    changed roles take effect within ``TOKEN_CACHE_TTL``.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: dict[str, tuple[Actor, datetime]] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, token: str, now: datetime) -> Actor | None:
        entry = self._entries.get(token_digest(token))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, token: str, actor: Actor, until: datetime) -> None:
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[token_digest(token)] = (actor, until)


_TOKENS = _TokenCache()


def services() -> Services:
    return current_app.extensions["samverkan"]  # type: ignore[no-any-return]


def current_actor(required: bool = True) -> Actor | None:
    if "actor" in g:
        return g.actor  # type: ignore[no-any-return]
    actor = _authenticate()
    if actor is None and required:
        raise Unauthorized("sign in: send Authorization: Bearer <token>")
    g.actor = actor
    return actor


def _authenticate() -> Actor | None:
    header = request.headers.get("Authorization", "")
    svc = services()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use Authorization: Bearer <token>")
        actor = _TOKENS.get(token.strip(), svc.now())
        if actor is not None:
            return actor
        with svc.db.read() as db:
            user = user_for_token(db, token.strip(), svc.now())
            if user is None:
                raise Unauthorized("the token is unknown or has expired")
            actor = actor_for(user)
            _TOKENS.put(token.strip(), actor, min(token_expiry(db, token.strip()), svc.now() + TOKEN_CACHE_TTL))
            return actor
    username = session.get("username")
    if username:
        # A page's fetch() rides on the session cookie, which another site can make a browser send:
        # state changes also need the page's CSRF token (service/web/csrf.py), which it cannot read.
        if request.method not in SAFE_METHODS and not csrf_matches(request.headers.get(CSRF_HEADER)):
            raise Forbidden("send the page's CSRF token in the X-CSRF-Token header")
        with svc.db.read() as db:
            user = active_user(db, username)
            return actor_for(user) if user else None
    return None


def require(*roles: str) -> Actor:
    actor = current_actor()
    assert actor is not None
    if roles and not actor.has(*roles):
        raise Forbidden(f"needs one of the roles {', '.join(roles)}")
    return actor


def json_body() -> Any:
    if not request.data:
        raise BadRequest("the request needs a JSON body")
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise BadRequest("send the body as application/json")
    body = request.get_json(silent=True)
    if body is None and request.data.strip() != b"null":
        raise BadRequest("the body is not valid JSON")
    return body
