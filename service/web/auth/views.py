"""Sign-in with a local account (session cookie) and sign-out."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from service.actor import Actor
from service.audit import record
from service.auth import verify_password
from service.models import User

from .. import csrf
from ..layout import page_actor, page_blueprint, safe_next, services

bp = page_blueprint("auth", __name__)


@bp.route("/logga-in", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form; a wrong name or password gets one message for both (no user enumeration)."""
    next_url = safe_next(request.values.get("next"), url_for("web.home"))
    if request.method == "GET":
        if page_actor() is not None:
            return redirect(next_url)
        return render_template("auth/login.html", next=next_url, error=None, username="")
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    svc = services()
    with svc.db.read() as db:
        user = db.scalars(select(User).where(User.username == username)).first() if username else None
    if not verify_password(user, password):
        error = _("Fel användarnamn eller lösenord.")
        return render_template("auth/login.html", next=next_url, error=error, username=username), 401
    language = session.get("lang")
    session.clear()  # a new session on sign-in: nothing from before carries over (session fixation)
    session["username"] = username
    if language:
        session["lang"] = language
    csrf.rotate()
    with svc.db.command() as db:
        record(db, Actor(username), "signed_in")
    return redirect(next_url)


@bp.post("/logga-ut")
def logout() -> Response:
    actor = page_actor()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    if actor is not None:
        with services().db.command() as db:
            record(db, actor, "signed_out")
    return redirect(url_for("auth.login"))
