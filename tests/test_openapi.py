"""The OpenAPI document served at /api/v1/openapi.json is valid OpenAPI 3 and describes every route
of the contract (shared/API.md), with request bodies and responses as named schemas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from .conftest import Harness

API_MD = Path(__file__).resolve().parents[2] / "shared" / "API.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def api_md_routes() -> list[tuple[str, str, str, str]]:
    """The routes table of API.md as (method, path, who, what); rows like ``/suspend, /resume`` expanded,
    nested objects in the ``what`` column cut to their field name."""
    routes: list[tuple[str, str, str, str]] = []
    for line in API_MD.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] not in METHODS:
            continue
        method, paths, who, what = cells[0], cells[1], cells[2], "|".join(cells[3:])
        what = re.sub(r":\s*\{[^{}]*\}", "", what)  # `{form: {schema, ui_schema}}` -> `{form}`: top level only
        first, *more = [p.strip().split("?")[0] for p in paths.split(",")]  # `/users?q=&role=` -> `/users`
        routes.append((method, first, who, what))
        base = first.rsplit("/", 1)[0]
        routes += [(method, base + extra, who, what) for extra in more]
    return routes


def shape(path: str) -> str:
    """A path with its parameters unnamed: API.md says ``{id}``, the code ``{instance_id}``."""
    return re.sub(r"{[^}]+}", "{}", path)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema["$ref"]
    assert ref.startswith("#/components/schemas/"), ref
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), shape(path)): operation for path, operations in document["paths"].items()
            for method, operation in operations.items()}


def test_api_md_is_read() -> None:
    routes = {(m, p) for m, p, _, _ in api_md_routes()}
    # a sample of the contract, so a change in the table's layout cannot make the tests below vacuous
    assert {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/instances/{id}/terminate"),
            ("POST", "/api/v1/tasks/{id}/unclaim"), ("GET", "/metrics")} <= routes
    assert len(routes) >= 25


def test_document_is_valid_openapi_3_and_served_to_anyone(sqlite_harness: Harness) -> None:
    response = sqlite_harness.anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate(document)  # raises with the offending pointer if the document is not valid OpenAPI
    assert document["info"]["title"] == "Samverkan"
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_every_route_of_the_contract_is_described(sqlite_harness: Harness) -> None:
    document = sqlite_harness.anonymous.ok("GET", "/api/v1/openapi.json")
    operations = _operations(document)
    missing = [f"{m} {p}" for m, p, _, _ in api_md_routes() if (m, shape(p)) not in operations]
    assert not missing, f"routes of API.md the OpenAPI document does not describe: {missing}"
    for method, path, who, _ in api_md_routes():
        operation = operations[(method, shape(path))]
        assert operation.get("summary"), f"{method} {path} has no summary"
        open_route = who in ("anyone", "scrape")
        assert ("security" not in operation) == open_route, f"{method} {path}: security does not match '{who}'"


def test_every_described_route_exists(sqlite_harness: Harness) -> None:
    # the other way round: no operation in the document that the service does not answer
    document = sqlite_harness.anonymous.ok("GET", "/api/v1/openapi.json")
    rules = {(method, shape(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)))
             for rule in sqlite_harness.server.app.url_map.iter_rules() for method in rule.methods or ()}
    described = set(_operations(document))
    assert described <= rules, f"described but not served: {described - rules}"


def _fields(braces: str) -> set[str]:
    return {f.strip().rstrip("?") for f in braces.split(",")}


def test_request_bodies_reference_schemas(sqlite_harness: Harness) -> None:
    document = sqlite_harness.anonymous.ok("GET", "/api/v1/openapi.json")
    operations = _operations(document)
    for method, path, _, what in api_md_routes():
        operation = operations[(method, shape(path))]
        request = what.split("→")[0] if method == "POST" else ""
        documented = re.search(r"`\{([^}]*)\}`", request)
        if documented:
            # a JSON body in API.md: the operation takes JSON by a named schema holding the documented fields
            schema = _resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
            fields = _fields(documented.group(1))
            assert fields <= set(schema["properties"]), f"{method} {path}: {fields} vs {set(schema['properties'])}"
        elif "multipart" in request:
            content = operation["requestBody"]["content"]
            files = content["multipart/form-data"]["schema"]["properties"]["files"]
            assert files["items"]["format"] == "binary"
        else:
            assert "requestBody" not in operation, f"{method} {path} takes no body in API.md"
    for (method, path), operation in operations.items():
        for content in operation.get("requestBody", {}).get("content", {}).values():
            assert "$ref" in content["schema"] or content["schema"].get("type") == "object", (method, path)


def test_documented_response_fields_are_in_the_schemas(sqlite_harness: Harness) -> None:
    document = sqlite_harness.anonymous.ok("GET", "/api/v1/openapi.json")
    operations = _operations(document)
    checked = 0
    for method, path, _, what in api_md_routes():
        response = what.split("→")[-1] if method == "POST" else what
        documented = re.search(r"`\{([^}]*)\}`", response) if method == "GET" or "→" in what else None
        if not documented:
            continue
        operation = operations[(method, shape(path))]
        [ok] = [code for code in operation["responses"] if code.startswith("2")]
        schema = _resolve(document, operation["responses"][ok]["content"]["application/json"]["schema"])
        if "items" in schema["properties"] and "total" in schema["properties"]:  # a page: the fields are per item
            schema = _resolve(document, schema["properties"]["items"]["items"])
        missing = _fields(documented.group(1)) - set(schema["properties"])
        assert not missing, f"{method} {path}: API.md promises {missing}"
        checked += 1
    assert checked >= 7


def test_json_responses_reference_schemas(sqlite_harness: Harness) -> None:
    document = sqlite_harness.anonymous.ok("GET", "/api/v1/openapi.json")
    for (method, path), operation in _operations(document).items():
        ok = [code for code in operation["responses"] if code.startswith("2")]
        assert len(ok) == 1, (method, path, ok)
        for content in operation["responses"][ok[0]].get("content", {}).values():
            _resolve(document, content["schema"])
        if path.startswith("/api/v1/") and operation.get("security"):
            problem = operation["responses"]["401"]["content"]["application/problem+json"]["schema"]
            assert _resolve(document, problem) == document["components"]["schemas"]["Problem"]
