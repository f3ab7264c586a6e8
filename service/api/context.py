"""Per-request access to the services and the authenticated actor."""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, request, session
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from service.actor import Actor
from service.auth import actor_for, session_user, token_digest, token_epoch, token_expiry, user_for_token
from service.errors import BadRequest, Forbidden, Unauthorized
from service.services import Services
from service.web.csrf import HEADER as CSRF_HEADER
from service.web.csrf import SAFE_METHODS
from service.web.csrf import matches as csrf_matches

MAX_JSON_DEPTH = 64
TOKEN_CACHE_TTL = timedelta(seconds=10)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # either half of a pair, or a lone one
_SURROGATE_MESSAGE = "text may not contain unpaired UTF-16 surrogates (e.g. \\ud800)"
_NUL_MESSAGE = "text may not contain NUL characters"
_LONG_NUMBER = re.compile(r"^\s*[+-]?[\d.,]{301,}\s*$")


class _TokenCache:
    """The actor built for a recently checked token, with the user's session epoch at that moment.

    Every API request still asks the database one indexed question (``token_epoch``): is the token
    known, unexpired, its user active, and which epoch is the user at. A cached actor is used only
    when the epoch is unchanged, so deactivation and a new password (which also deletes the tokens)
    bite on the very next request on every node; the cache only saves building the actor (the
    user, organisation and roles). Roles changed in the database without an epoch bump show within
    ``TOKEN_CACHE_TTL``.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: dict[str, tuple[Actor, int, datetime]] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, token: str, epoch: int, now: datetime) -> Actor | None:
        entry = self._entries.get(token_digest(token))
        if entry is None or entry[1] != epoch or entry[2] <= now:
            return None
        return entry[0]

    def put(self, token: str, actor: Actor, epoch: int, until: datetime) -> None:
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[token_digest(token)] = (actor, epoch, until)


_TOKENS = _TokenCache()


def services() -> Services:
    return current_app.extensions["samverkan"]  # type: ignore[no-any-return]


def current_actor(required: bool = True, db: Session | None = None) -> Actor | None:
    """The signed-in actor of this request (401 when ``required`` and nobody is signed in).

    ``db``: the read session the view goes on to read with, so the sign-in check runs in its
    transaction rather than in one of its own (one BEGIN per request on the read side). The check
    asks the database anew either way: a revoked token fails on the very next request.
    """
    if "actor" in g:
        return g.actor  # type: ignore[no-any-return]
    if db is None:
        with services().db.read() as own:
            actor = _authenticate(own)
    else:
        actor = _authenticate(db)
    if actor is None and required:
        raise Unauthorized("sign in: send Authorization: Bearer <token>")
    g.actor = actor
    return actor


def _authenticate(db: Session) -> Actor | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use Authorization: Bearer <token>")
        return _token_actor(db, token.strip())
    username = session.get("username")
    if username:
        # A page's fetch() rides on the session cookie, which another site can make a browser send:
        # state changes also need the page's CSRF token (service/web/csrf.py), which it cannot read.
        if request.method not in SAFE_METHODS and not csrf_matches(request.headers.get(CSRF_HEADER)):
            raise Forbidden("send the page's CSRF token in the X-CSRF-Token header")
        user = session_user(db, username, session.get("epoch"))
        return actor_for(user) if user else None
    return None


def _token_actor(db: Session, token: str) -> Actor:
    now = services().now()
    epoch = token_epoch(db, token, now)
    if epoch is None:
        raise Unauthorized("the token is unknown or has expired")
    actor = _TOKENS.get(token, epoch, now)
    if actor is not None:
        return actor
    user = user_for_token(db, token, now)
    if user is None:  # revoked between the two queries
        raise Unauthorized("the token is unknown or has expired")
    actor = actor_for(user)
    _TOKENS.put(token, actor, user.session_epoch, min(token_expiry(db, token), now + TOKEN_CACHE_TTL))
    return actor


def require(*roles: str) -> Actor:
    actor = current_actor()
    assert actor is not None
    if roles and not actor.has(*roles):
        raise Forbidden(f"needs one of the roles {', '.join(roles)}")
    return actor


def json_body() -> Any:
    """The request's JSON body, parsed by ``strict_loads``; anything it refuses is a 400."""
    if not request.data:
        raise BadRequest("the request needs a JSON body")
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise BadRequest("send the body as application/json")
    try:
        return strict_loads(request.data)
    except UnsafeJSON as err:
        raise BadRequest(str(err)) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4,300 digits
        raise BadRequest("the body is not valid JSON") from None


class UnsafeJSON(ValueError):
    """JSON that parses but that the service does not take in (see ``strict_loads``)."""


def strict_loads(data: str | bytes) -> Any:
    """JSON as the service accepts it at every edge (API bodies and, through the app's JSON
    provider, any ``request.get_json``): UTF-8; no NaN or Infinity (nor numbers too large for a
    float); no unpaired UTF-16 surrogates (they cannot be written back out as UTF-8, so a stored one
    would make a case unreadable); no NUL characters (PostgreSQL text cannot hold them); containers
    nested at most ``MAX_JSON_DEPTH`` deep. Raises ``ValueError`` (``UnsafeJSON`` for these rules).

    Costs little over ``json.loads`` for plain bodies: the depth walk visits containers only, and
    the strings are searched only when the raw text holds an escape that could be NUL or a surrogate.
    """
    text = bytes(data).decode("utf-8") if isinstance(data, bytes | bytearray) else data
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:  # the C decoder stops at the interpreter's recursion limit: deep, not broken
        raise UnsafeJSON(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    _check_depth(value)
    # Only an escape can bring in NUL or a surrogate (UTF-8 cannot carry a surrogate): look at the
    # strings themselves only when the text holds one, so plain bodies pay nothing for the check.
    if ("\\u0000" in text or ("\\u" in text and _SURROGATE_ESCAPE.search(text))
            or not isinstance(data, bytes | bytearray)):
        check_text(_all_text(value))
    return value


def _all_text(value: Any) -> str:
    """Every string and key in ``value``, joined, so one C-speed search covers them all."""
    found: list[str] = [value] if isinstance(value, str) else []
    level = [value] if isinstance(value, dict | list) else []
    while level:
        below: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            if type(node) is dict:
                found.extend(node)
            found.extend([c for c in children if type(c) is str])
            below.extend([c for c in children if type(c) is dict or type(c) is list])
        level = below
    return "\n".join(found)


def _check_depth(value: Any) -> None:
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise UnsafeJSON(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        below: list[Any] = []
        for node in level:
            below.extend([c for c in (node.values() if type(node) is dict else node)
                          if type(c) is dict or type(c) is list])
        level = below


def check_text(text: str) -> None:
    """Refuse text that cannot be stored and read back: unpaired surrogates, NUL characters."""
    if "\x00" in text:
        raise UnsafeJSON(_NUL_MESSAGE)
    if _SURROGATE.search(text):
        raise UnsafeJSON(_SURROGATE_MESSAGE)


def check_form(form: MultiDict[str, str]) -> None:
    """The same rules for a page's form post, and a number-like value (what the pages would read as
    a number) may have at most 300 characters, so it is a finite float and a parsable integer."""
    for key, value in form.items(multi=True):
        check_text(key)
        check_text(value)
        if _LONG_NUMBER.match(value):
            raise UnsafeJSON("a number is too large")


def _no_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise UnsafeJSON("a number is too large")
    return number
