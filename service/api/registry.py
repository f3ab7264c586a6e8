"""Declare each route once: Flask gets the view, the OpenAPI document gets its description."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from marshmallow import Schema


@dataclass(frozen=True)
class RouteDoc:
    path: str
    method: str
    summary: str
    tag: str
    body: type[Schema] | None
    response: type[Schema] | None
    status: int
    query: type[Schema] | None
    auth: bool
    roles: tuple[str, ...]
    multipart: bool
    rate_limited: bool


ROUTES: list[RouteDoc] = []


def endpoint(bp: Blueprint, rule: str, method: str, *, summary: str, tag: str,
             body: type[Schema] | None = None, response: type[Schema] | None = None, status: int = 200,
             query: type[Schema] | None = None, auth: bool = True, roles: tuple[str, ...] = (),
             multipart: bool = False, rate_limited: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])
        path = (bp.url_prefix or "") + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        ROUTES.append(RouteDoc(path, method.lower(), summary, tag, body, response, status, query, auth,
                               roles, multipart, rate_limited))
        return view

    return decorate
