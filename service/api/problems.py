"""RFC 9457 problem+json responses for every error the API returns."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json
from marshmallow import ValidationError
from sqlalchemy import exc as db_errors
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.errors import Invalid, ServiceError

RETRY_AFTER_SECONDS = 30  # what a client is told to wait while the database is down or full

# The database is unreachable, restarting, out of space or busy beyond its timeout: the request may
# work again later, so these are 503 with Retry-After, not the 500 of a bug.
UNAVAILABLE = (db_errors.OperationalError, db_errors.InterfaceError, db_errors.DisconnectionError,
               db_errors.TimeoutError)


def database_unavailable(err: Exception) -> bool:
    """Whether ``err`` says the database cannot serve now (rather than that the code is wrong)."""
    if not isinstance(err, UNAVAILABLE):
        return False
    # SQLite reports a missing table or column as an OperationalError too: that is a bug, not an outage
    return not str(getattr(err, "orig", err)).startswith(("no such table", "no such column"))


def problem(status: int, title: str, detail: str, *, errors: dict[str, Any] | None = None,
            **extra: Any) -> Response:
    body: dict[str, Any] = {"type": f"https://samverkan.example/problems/{status}", "title": title,
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dicts as ``{"field.sub": [messages]}``."""
    if isinstance(messages, list):
        return {prefix or "body": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _wants_page() -> bool:
    """Outside the API, a browser (it asks for HTML) gets a page; clients of the API get problem+json."""
    from flask import request

    if request.path.startswith("/api/") or request.path in ("/healthz", "/metrics"):
        return False
    return request.accept_mimetypes.accept_html and not request.accept_mimetypes.accept_json or (
        request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"])


def register(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> Response:
        return problem(err.status, err.title, err.detail, errors=err.errors, **err.extra)

    @app.errorhandler(ValidationError)
    def _validation_error(err: ValidationError) -> Response:
        return problem(Invalid.status, Invalid.title, "the request body has invalid fields",
                       errors=_flatten(err.messages))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Response:
        return problem(413, "Too large", f"the request is larger than {app.config['MAX_CONTENT_LENGTH']} bytes")

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response | tuple[str, int]:
        if _wants_page():  # a person at a browser gets a page in their language, not JSON
            from service.web.layout import http_error_page

            return http_error_page(err)
        response = problem(err.code or 500, err.name, err.description or err.name)
        if err.code == 405 and getattr(err, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(err.valid_methods))  # type: ignore[arg-type]
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response | tuple[str, int]:
        if database_unavailable(err):
            return _unavailable(err)
        app.logger.exception("unhandled error")
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def _unavailable(err: Exception) -> Response:
    """503 + Retry-After: problem+json for the API, a Swedish page for a person at a browser."""
    from flask import current_app, make_response

    current_app.logger.warning("database unavailable: %s", str(getattr(err, "orig", err)).splitlines()[0][:200])
    if _wants_page():
        from service.web.layout import unavailable_page

        response = make_response(unavailable_page())
    else:
        response = problem(503, "Service unavailable",
                           "the database cannot be reached or is full; try again shortly")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
