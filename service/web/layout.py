"""What every page shares: the signed-in user, the navigation (with counts), errors, language.

``page_actor()`` is the Actor of the session's user (``service.auth.actor_for``), the same kind of
actor the API builds from a token; pages pass it to the operations unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from service.access import TaskFilter, actionable_count
from service.access.lanes import offered_lanes
from service.actor import Actor
from service.auth import actor_for, session_user
from service.directory import display_names, organisations
from service.errors import Forbidden, NotFound, ServiceError, Unauthorized
from service.services import Services

from . import i18n

logger = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable[..., Any])

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/samverkan")


def services() -> Services:
    return current_app.extensions["samverkan"]  # type: ignore[no-any-return]


def page_actor() -> Actor | None:
    """The signed-in user as an Actor, or None (an unknown or deactivated user, or a session from
    before the user's last sign-out or password change, is signed out)."""
    if "page_actor" not in g:
        actor = None
        username = session.get("username")
        if username:
            with services().db.read() as db:
                user = session_user(db, username, session.get("epoch"))
                actor = actor_for(user) if user else None
            if actor is None:
                session.pop("username", None)
                session.pop("epoch", None)
        g.page_actor = actor
    return g.page_actor  # type: ignore[no-any-return]


def signed_in(*roles: str) -> Callable[[View], View]:
    """Require a signed-in user (else to the sign-in page) holding one of ``roles`` (else 403)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = page_actor()
            if actor is None:
                raise Unauthorized("sign in")
            if roles and not actor.has(*roles):
                raise Forbidden(f"needs one of the roles {', '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def actor_required() -> Actor:
    actor = page_actor()
    if actor is None:
        raise Unauthorized("sign in")
    return actor


def safe_next(target: str | None, default: str) -> str:
    """A local path to go back to; anything pointing elsewhere falls back to ``default``."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def inbox_counts(actor: Actor) -> dict[str, int]:
    """Open tasks for the navigation: mine, claimable in my lanes, and how many of them are overdue."""
    svc = services()
    now = svc.now()
    counts = {}
    with svc.db.read() as db:
        lanes = offered_lanes(svc, actor.roles, db)
        for kind in ("me", "unassigned"):  # counted on the inbox's covering indexes, no task row read
            for name, narrow in ((kind, TaskFilter()), (f"{kind}_overdue", TaskFilter(due_before=now))):
                counts[name] = actionable_count(db, actor, lanes, kind, narrow)
    counts["total"] = counts["me"] + counts["unassigned"]
    counts["overdue"] = counts["me_overdue"] + counts["unassigned_overdue"]
    return counts


@bp.app_context_processor
def _page_globals() -> dict[str, Any]:
    if request.blueprint in (None, "api", "root", "assets") or g.get("database_unavailable"):
        return {}  # (a page about the database being down must not ask the database who is signed in)
    actor = page_actor()
    return {
        "me": actor,
        "nav_counts": inbox_counts(actor) if actor else None,
        "may_monitor": bool(actor and actor.has("chef", "admin")),
        "may_edit": bool(actor and actor.has("processagare", "admin")),
        "may_operate": bool(actor and actor.has("admin")),
        "may_audit": bool(actor and actor.has("auditor", "admin")),
    }


@bp.get("/")
def home() -> Response:
    """Where a person's work is: operators to the console, auditors to the log, managers to the
    monitor, everyone else (and anyone with tasks waiting) to the inbox."""
    actor = page_actor()
    if actor is None:
        return redirect(url_for("auth.login"))
    if actor.has("admin"):
        return redirect(url_for("operations.console"))
    if actor.has("auditor") and not actor.has_case_access:
        return redirect(url_for("operations.audit_log"))
    if actor.has("chef") and not inbox_counts(actor)["total"]:
        return redirect(url_for("monitor.overview"))
    return redirect(url_for("inbox.inbox"))


@bp.post("/sprak")
def choose_language() -> Response:
    """Switch the page language (kept in the session); back to where the user was."""
    language = request.form.get("lang", "")
    if language in i18n.LANGUAGES:
        session["lang"] = language
    return redirect(safe_next(request.form.get("next"), url_for("web.home")))


def error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, detail=detail), status


def http_error_page(err: HTTPException) -> tuple[str, int]:
    """An HTTP error (an unknown address, a wrong method) as a page in the person's language."""
    if err.code == 404:
        return error_page(404, _("Hittades inte"), _("Sidan finns inte, eller så har du inte tillgång till den."))
    return error_page(err.code or 500, _("Det gick inte"), err.name)


def unavailable_page() -> tuple[str, int]:
    """The database is down or full: say so in plain Swedish, with nothing that needs the database."""
    g.database_unavailable = True
    return error_page(503, _("Tjänsten är tillfälligt otillgänglig"),
                      _("Samverkan når inte sin databas just nu. Vänta en stund och försök igen. Om du skickade "
                        "ett formulär: se efter om det sparades innan du skickar det igen."))


def page_blueprint(name: str, import_name: str) -> Blueprint:
    """A page area's blueprint (templates in its ``templates/``), with the page error handlers."""
    blueprint = Blueprint(name, import_name, template_folder="templates")
    add_page_handlers(blueprint)
    return blueprint


def add_page_handlers(blueprint: Blueprint) -> None:
    """HTML instead of problem+json for errors on pages; a sign-in redirect for anonymous users."""

    @blueprint.errorhandler(Unauthorized)
    def _sign_in(err: Unauthorized) -> Response:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    @blueprint.errorhandler(Forbidden)
    def _forbidden(err: Forbidden) -> tuple[str, int]:
        return error_page(403, _("Ingen behörighet"), _("Din roll ger inte tillgång till den här sidan."))

    @blueprint.errorhandler(NotFound)
    def _not_found(err: NotFound) -> tuple[str, int]:
        return error_page(404, _("Hittades inte"),
                          _("Sidan finns inte, eller så har du inte tillgång till den."))

    @blueprint.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> tuple[str, int]:
        return error_page(err.status, _("Det gick inte"), err.detail)

    @blueprint.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> tuple[str, int]:
        if err.code == 400 and err.description == "csrf":
            return error_page(400, _("Formuläret har gått ut"),
                              _("Ladda om sidan och försök igen. (Säkerhetskontrollen för formulär stämde inte.)"))
        return error_page(err.code or 500, err.name, err.description or err.name)


@bp.app_template_filter("duration")
def duration(hours: float | None) -> str:
    """A duration in hours as people read it: "12 min", "2,5 tim", "3,2 dygn" (never "0.0 h")."""
    if hours is None:
        return "–"
    minutes = hours * 60
    if minutes < 1:
        return _("under 1 min")
    if minutes < 60:
        return _("%(n)s min", n=int(round(minutes)))
    if hours < 48:
        return _("%(n)s tim", n=f"{hours:.1f}".replace(".", ","))
    return _("%(n)s dygn", n=f"{hours / 24:.1f}".replace(".", ","))


@bp.app_template_filter("person")
def person_name(username: str | None) -> str:
    """A username as the person's display name (looked up once per page), or "–"."""
    if not username:
        return "–"
    cache: dict[str, str] = g.setdefault("display_names", {})
    if username not in cache:
        with services().db.read() as db:
            cache.update(display_names(db, {username}))
        cache.setdefault(username, username)
    return cache[username]


def organisation_name(key: str | None) -> str:
    """A registered organisation's key as its name (looked up once per page), or "–"."""
    if not key:
        return "–"
    cache: dict[str, str] = g.setdefault("organisation_names", {})
    if not cache:
        with services().db.read() as db:
            cache.update({o.key: o.name for o in organisations(db)})
    return cache.get(key, key)


@bp.app_template_global()
def state_label(state: Any) -> str:
    """An instance state (the API's word) as the page says it."""
    labels = {"running": _("Pågår"), "waiting": _("Väntar"), "suspended": _("Pausat"), "completed": _("Avslutat"),
              "terminated": _("Avbrutet"), "error": _("Fel")}
    return labels.get(str(state), str(state))
