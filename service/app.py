"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, abort, request
from flask.json.provider import DefaultJSONProvider

from .config import Config
from .services import Services

# No inline script or style anywhere (scripts and styles are files under /static); nothing may
# frame the pages. img-src allows data: for the empty favicon and bpmn-js's inline images.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that parsing a request refuses what ``strict_loads`` refuses (as a 400)."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from .api.context import strict_loads

        return strict_loads(s)


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    config = config or Config.from_env()
    services = services or Services.create(config)
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_upload_bytes + 1024 * 1024,
                      JSON_SORT_KEYS=False, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.cookies_secure, TESTING=config.testing)
    app.extensions["samverkan"] = services
    from .metrics import install as install_metrics

    install_metrics(app, services)  # first, so its clock starts before any other hook runs

    from .api import register as register_api
    from .api.admin import root
    from .web import register as register_pages

    register_api(app)
    app.register_blueprint(root)
    register_pages(app)
    _refuse_unsafe_forms(app)
    _limit_sign_in(app, config)
    _add_security_headers(app, config)

    if config.run_scheduler:
        from .scheduler import TimerScheduler

        scheduler = TimerScheduler(services)
        scheduler.start()
        app.extensions["samverkan_scheduler"] = scheduler
        if config.builtin_workers:  # the http and email external-task workers
            from .external_workers import ExternalWorkers

            workers = ExternalWorkers(services)
            workers.start()
            app.extensions["samverkan_external_workers"] = workers
    if config.smtp_host:
        from .notify import Notifier

        notifier = Notifier(services)
        services.hooks.tasks_created.append(notifier.on_tasks_created)
        services.hooks.mail_queued.append(notifier.wake)
        notifier.start()
        app.extensions["samverkan_notifier"] = notifier
    logging.getLogger(__name__).debug("app created for %s", config.database_url)
    return app


def _refuse_unsafe_forms(app: Flask) -> None:
    """A form post whose text could not be stored and read back is a 400 before any view runs."""
    from .api.context import UnsafeJSON, check_form

    @app.before_request
    def _check_form() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.mimetype not in (
                "application/x-www-form-urlencoded", "multipart/form-data"):
            return
        try:
            check_form(request.form)
        except UnsafeJSON as err:
            abort(400, description=str(err))


def _limit_sign_in(app: Flask, config: Config) -> None:
    """Failed sign-ins (401s) per client address and per account name, shared by the sign-in page
    and ``POST /api/v1/auth/token``. Counted in this node's memory: the account lock in the
    database (``operations.users.sign_in``) is what holds across nodes. Behind a proxy every
    client has the proxy's address, so the per-address limit then bounds the proxy."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", strategy="moving-window",
                      headers_enabled=True)
    app.extensions["samverkan_limiter"] = limiter

    def failed(response: Response) -> bool:
        return response.status_code == 401

    by_address = limiter.shared_limit(config.login_rate_limit, scope="sign-in-address", methods=["POST"],
                                      deduct_when=failed)
    by_account = limiter.shared_limit(config.login_account_rate_limit, scope="sign-in-account",
                                      key_func=_account_name, methods=["POST"], deduct_when=failed)
    for endpoint in ("auth.login", "api.create_token"):
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = by_account(by_address(view))


def _account_name() -> str:
    """The account a sign-in names (form field or JSON body), as the rate-limit key."""
    if request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return "account:" + (name.strip().lower()[:100] if isinstance(name, str) else "")


def _add_security_headers(app: Flask, config: Config) -> None:
    """CSP, no framing, no MIME sniffing, no cross-site referrer; HSTS with secure cookies."""
    secure = config.cookies_secure

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP 2
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
