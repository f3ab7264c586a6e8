"""CSRF protection for everything a signed-in browser sends.

A random token lives in the (signed) session cookie. Every page form carries it in a hidden
``csrf_token`` field and every ``fetch()`` from a page sends it as ``X-CSRF-Token``; a POST to a
page whose token does not match is refused with 400 before the view runs. The API checks the same
token for session-authenticated calls (``service.api.context``), so a page's cookie alone never
suffices to change state — another site can make the browser send the cookie, not read the token.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

SESSION_KEY = "csrf_token"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token() -> str:
    """The session's token, created on first use (a page render)."""
    value = session.get(SESSION_KEY)
    if not value:
        value = secrets.token_urlsafe(32)
        session[SESSION_KEY] = value
    return str(value)


def matches(sent: str | None) -> bool:
    """True when ``sent`` is this session's token (constant-time comparison)."""
    expected = session.get(SESSION_KEY)
    return bool(expected and sent and hmac.compare_digest(str(expected), sent))


def rotate() -> None:
    """A fresh token, e.g. after signing in, so a token seen before sign-in is worthless after."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def _check_page_posts() -> None:
        # The API guards its own session calls (service.api.context); pages are checked here.
        if request.method in SAFE_METHODS or request.blueprint in (None, "api", "root"):
            return
        sent = request.form.get(FORM_FIELD) or request.headers.get(HEADER)
        if not matches(sent):
            abort(400, description="csrf")
