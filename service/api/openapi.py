"""The OpenAPI 3 document, generated from the route registry and the marshmallow schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from .registry import ROUTES
from .schemas import ProblemSchema

_ERRORS = {"400": "Malformed request", "401": "Not signed in", "403": "Not allowed", "404": "Not found",
           "409": "Conflict", "413": "Too large", "422": "Invalid content"}
_RATE_LIMITED = "Too many failed sign-ins from this address or for this account; wait (Retry-After)"


@cache
def openapi_document() -> dict[str, Any]:
    spec = APISpec(title="Samverkan", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "BPMN orchestration of social-services collaboration routines."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", schema=ProblemSchema)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {"summary": route.summary, "tags": [route.tag], "responses": {}}
        if route.roles:
            operation["description"] = f"Roles: {', '.join(route.roles)}."
        if route.auth:
            operation["security"] = [{"bearer": []}]
        params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in _path_params(route.path)]
        if route.query is not None:
            params.append({"in": "query", "schema": route.query})
        if params:
            operation["parameters"] = params
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": route.body}}}
        if route.multipart:
            operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {"files": {"type": "array", "items": {
                    "type": "string", "format": "binary"}}, "comment": {"type": "string"},
                    "lanes": {"type": "string", "description": "JSON object: lane name → list of role keys"}}}}}}
        ok: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": route.response}}
        operation["responses"][str(route.status)] = ok
        errors = {**_ERRORS, "429": _RATE_LIMITED} if route.rate_limited else _ERRORS
        for code, text in errors.items():
            operation["responses"][code] = {"description": text, "content": {
                "application/problem+json": {"schema": "Problem"}}}
        paths.setdefault(route.path, {})[route.method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"{(\w+)}", path)
