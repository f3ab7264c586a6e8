"""The HTTP API under /api/v1 (API.md): blueprints, schemas, problem responses, OpenAPI."""

from __future__ import annotations

from flask import Blueprint, Flask

api = Blueprint("api", __name__, url_prefix="/api/v1")


def register(app: Flask) -> None:
    from . import admin, auth_routes, complaints, external, instances, processes, tasks  # noqa: F401  (routes register on import)
    from .problems import register as register_problems

    app.register_blueprint(api)
    register_problems(app)
