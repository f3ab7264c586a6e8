"""Sign-in with a local account (session cookie) and sign-out.

The session cookie holds the username and the user's session epoch (``service.auth``); signing
out bumps the epoch, so a copy of the cookie taken before is worthless on every node. Wrong
passwords count towards the account's lock (``service.operations.users.sign_in``), and the
sign-in is rate-limited per address and per account name (``service.app``).
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded

from service.actor import Actor
from service.audit import record
from service.operations.users import sign_in, sign_out

from .. import csrf
from ..layout import page_actor, page_blueprint, safe_next, services

bp = page_blueprint("auth", __name__)


@bp.route("/logga-in", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form; an unknown name, a wrong password and a locked account get one message (no
    user enumeration)."""
    next_url = safe_next(request.values.get("next"), url_for("web.home"))
    if request.method == "GET":
        if page_actor() is not None:
            return redirect(next_url)
        return render_template("auth/login.html", next=next_url, error=None, username="")
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    svc = services()
    user = sign_in(svc, username, password)
    if user is None:
        return _refused(next_url, username, 401)
    language = session.get("lang")
    session.clear()  # a new session on sign-in: nothing from before carries over (session fixation)
    session["username"] = username
    session["epoch"] = user.session_epoch
    if language:
        session["lang"] = language
    csrf.rotate()
    with svc.db.command() as db:
        record(db, Actor(username), "signed_in")
    return redirect(next_url)


def _refused(next_url: str, username: str, status: int) -> tuple[str, int]:
    error = _("Fel användarnamn eller lösenord.")
    return render_template("auth/login.html", next=next_url, error=error, username=username), status


@bp.errorhandler(RateLimitExceeded)
def _too_many_attempts(err: RateLimitExceeded) -> tuple[str, int]:
    """Too many failed sign-ins from this address or for this name (``service.app``): the form again
    with the one refusal message (a different one would tell that the name exists), as a 429."""
    username = request.form.get("username", "").strip().lower()
    return _refused(safe_next(request.values.get("next"), url_for("web.home")), username, 429)


@bp.post("/logga-ut")
def logout() -> Response:
    """Sign out here and everywhere else: every session of the user ends (their epoch moves on)."""
    actor = page_actor()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    if actor is not None:
        sign_out(services(), actor)
    return redirect(url_for("auth.login"))
