"""Per-request access to the services and the authenticated actor."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request, session

from service.actor import Actor
from service.auth import actor_for, user_for_token
from service.errors import BadRequest, Forbidden, Unauthorized
from service.models import User
from service.services import Services
from service.web.csrf import HEADER as CSRF_HEADER
from service.web.csrf import SAFE_METHODS
from service.web.csrf import matches as csrf_matches


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
        with svc.db.read() as db:
            user = user_for_token(db, token.strip(), svc.now())
            if user is None:
                raise Unauthorized("the token is unknown or has expired")
            return actor_for(user)
    username = session.get("username")
    if username:
        # A page's fetch() rides on the session cookie, which another site can make a browser send:
        # state changes also need the page's CSRF token (service/web/csrf.py), which it cannot read.
        if request.method not in SAFE_METHODS and not csrf_matches(request.headers.get(CSRF_HEADER)):
            raise Forbidden("send the page's CSRF token in the X-CSRF-Token header")
        with svc.db.read() as db:
            user = db.query(User).filter_by(username=username, is_active=True).first()
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
