"""Sign-in with a local account or the municipality's identity provider (session cookie), sign-out.

The session cookie holds the username and the user's session epoch (``service.auth``); signing
out bumps the epoch, so a copy of the cookie taken before is worthless on every node. Wrong
passwords count towards the account's lock (``service.operations.users.sign_in``), and the
sign-in is rate-limited per address and per account name (``service.app``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded

from service.actor import Actor
from service.audit import record
from service.oidc import SignInRefused, sign_in_with_claims
from service.operations.users import sign_in, sign_out

from .. import csrf
from ..layout import page_actor, page_blueprint, safe_next, services

logger = logging.getLogger(__name__)
bp = page_blueprint("auth", __name__)


@bp.route("/logga-in", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in form; an unknown name, a wrong password and a locked account get one message (no
    user enumeration)."""
    next_url = safe_next(request.values.get("next"), url_for("web.home"))
    if request.method == "GET":
        if page_actor() is not None:
            return redirect(next_url)
        return _form(next_url, None, "")
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    svc = services()
    user = sign_in(svc, username, password)
    if user is None:
        return _refused(next_url, username, 401)
    _start_session(user.username, user.session_epoch)
    with svc.db.command() as db:
        record(db, Actor(username), "signed_in")
    return redirect(next_url)


def _start_session(username: str, epoch: int) -> None:
    language = session.get("lang")
    session.clear()  # a new session on sign-in: nothing from before carries over (session fixation)
    session["username"] = username
    session["epoch"] = epoch
    if language:
        session["lang"] = language
    csrf.rotate()


def _form(next_url: str, error: str | None, username: str, *, sso_error: bool = False) -> str:
    """The sign-in page; an error of the provider's sign-in (``sso_error``) marks no field invalid."""
    return render_template("auth/login.html", next=next_url, error=error, username=username,
                           sso=services().config.oidc is not None, sso_error=sso_error)


def _refused(next_url: str, username: str, status: int) -> tuple[str, int]:
    return _form(next_url, _("Fel användarnamn eller lösenord."), username), status


# --- the municipality's identity provider (service.oidc) -------------------------------------------

@bp.get("/logga-in/sso")
def sso_start() -> Any:
    """Off to the identity provider; it sends the person back to ``sso_done``."""
    client = _sso_client()
    session["sso_next"] = safe_next(request.args.get("next"), url_for("web.home"))
    return client.authorize_redirect(url_for("auth.sso_done", _external=True))


@bp.get("/logga-in/sso/klar")
def sso_done() -> Any:
    """Back from the provider: check the ID token (Authlib), refresh the user from its claims."""
    from authlib.integrations.flask_client import OAuthError
    from joserfc.errors import JoseError

    client = _sso_client()
    next_url = safe_next(session.pop("sso_next", None), url_for("web.home"))
    svc = services()
    try:
        token = client.authorize_access_token()
        user = sign_in_with_claims(svc, svc.config.oidc, token.get("userinfo") or {})
    except SignInRefused as err:
        return _form(next_url, _refusal(err), "", sso_error=True), err.status
    except (OAuthError, JoseError) as err:
        return _form(next_url, _token_refusal(err), "", sso_error=True), 401
    _start_session(user.username, user.session_epoch)
    return redirect(next_url)


def _refusal(err: SignInRefused) -> str:
    """Why the claims were not accepted, for the person."""
    reason, details = err.reason, err.details
    if reason == "missing_claim":
        return _("Inloggningen saknar uppgiften ”%(claim)s” från kommunens inloggningstjänst. "
                 "Kontakta IT-supporten.", claim=details["claim"])
    if reason == "bad_username":
        return _("Användarnamnet ”%(username)s” från kommunens inloggningstjänst kan inte användas i "
                 "Samverkan. Kontakta IT-supporten.", username=details["username"])
    if reason == "unknown_organisation":
        return _("Organisationen ”%(organisation)s” finns inte i Samverkan. Kontakta IT-supporten.",
                 organisation=details["organisation"])
    if reason == "local_account":
        return _("Användarnamnet hör till ett lokalt konto i Samverkan. Logga in med användarnamn och lösenord.")
    if reason == "deactivated":
        return _("Ditt konto i Samverkan är avstängt. Kontakta IT-supporten.")
    return _("Ditt konto ger ingen roll i Samverkan. Be din chef att beställa behörighet hos kommunens "
             "IT-support.")


def _token_refusal(err: Exception) -> str:
    """What went wrong with the provider's answer, for the person (the details go to the log)."""
    from authlib.integrations.flask_client import OAuthError
    from joserfc.errors import ClaimError, ExpiredTokenError

    logger.warning("identity provider sign-in refused: %r", err)
    if isinstance(err, ExpiredTokenError):
        return _("Inloggningen har gått ut. Försök igen.")
    if isinstance(err, ClaimError) and err.claim in ("aud", "azp"):  # azp: demanded when aud is not us alone
        return _("Inloggningen var utfärdad för en annan tjänst än Samverkan och godtas inte.")
    if isinstance(err, ClaimError):
        return _("Inloggningen från kommunens inloggningstjänst var inte giltig (uppgiften ”%(claim)s”). "
                 "Försök igen.", claim=err.claim)
    if isinstance(err, OAuthError):
        return _("Kommunens inloggningstjänst avbröt inloggningen. Försök igen.")
    return _("Inloggningen kunde inte bekräftas: svaret från inloggningstjänsten var inte äkta.")


def _sso_client() -> Any:
    """The app's Authlib client for the configured provider (404 when none is). Authlib is imported
    here, so a service without a provider does not load it."""
    from authlib.integrations.flask_client import OAuth

    settings = services().config.oidc
    if settings is None:
        abort(404)
    oauth = current_app.extensions.get("samverkan_oauth")
    if oauth is None:
        oauth = OAuth(current_app)
        oauth.register("kommun", client_id=settings.client_id, client_secret=settings.client_secret,
                       server_metadata_url=settings.metadata_url, client_kwargs={"scope": settings.scopes})
        current_app.extensions["samverkan_oauth"] = oauth
    return oauth.kommun


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
