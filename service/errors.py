"""Domain errors. The API turns each into a problem+json response with its status."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}


class BadRequest(ServiceError):
    status, title = 400, "Bad request"


class Unauthorized(ServiceError):
    status, title = 401, "Not signed in"


class Forbidden(ServiceError):
    status, title = 403, "Not allowed"


class NotFound(ServiceError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class TooLarge(ServiceError):
    status, title = 413, "Too large"


class Invalid(ServiceError):
    status, title = 422, "Invalid content"
