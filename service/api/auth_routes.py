"""Tokens and the caller's own profile."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import fields, validate

from service.directory import PersonQuery, organisations, person_summary, search_people
from service.operations.users import login
from service.roles import DISTRICTS, ROLES

from . import api
from .context import current_actor, json_body, services
from .registry import endpoint
from .schemas import (
    MeSchema,
    OrganisationSchema,
    PageQuerySchema,
    PersonSchema,
    TokenCreateSchema,
    TokenSchema,
    page_of,
)


@endpoint(api, "/auth/token", "POST", summary="Exchange username and password for an API token", tag="auth",
          body=TokenCreateSchema, response=TokenSchema, auth=False,
          rate_limited=True)  # the sign-in limits of service.app._limit_sign_in
def create_token() -> Any:
    body = TokenCreateSchema().load(json_body())
    token, expires_at = login(services(), body["username"], body["password"])
    return TokenSchema().dump({"token": token, "expires_at": expires_at})


@endpoint(api, "/me", "GET", summary="The signed-in user", tag="auth", response=MeSchema)
def me() -> Any:
    actor = current_actor()
    assert actor is not None
    return MeSchema().dump({"username": actor.username, "display_name": actor.display_name,
                            "roles": sorted(actor.roles), "districts": sorted(actor.districts),
                            "organisation": actor.organisation})


class PeopleQuerySchema(PageQuerySchema):
    q = fields.String(validate=validate.Length(max=100))
    role = fields.String(validate=validate.OneOf(sorted(ROLES)))
    district = fields.String(validate=validate.OneOf(sorted(DISTRICTS)))


@endpoint(api, "/organisations", "GET", summary="The organisations people belong to", tag="auth",
          query=PageQuerySchema, response=page_of(OrganisationSchema))
def list_organisations() -> Any:
    current_actor()
    query = PageQuerySchema().load(request.args)
    with services().db.read() as session:
        return _page(OrganisationSchema(many=True).dump(organisations(session)), query)


@endpoint(api, "/users", "GET", summary="People a form may name or a task be handed to (search by name)",
          tag="auth", query=PeopleQuerySchema, response=page_of(PersonSchema))
def list_people() -> Any:
    actor = current_actor()
    assert actor is not None
    query = PeopleQuerySchema().load(request.args)
    with services().db.read() as session:
        people = search_people(session, actor, PersonQuery(query.get("q"), query.get("role"), query.get("district")))
        return _page(PersonSchema(many=True).dump([person_summary(p) for p in people]), query)


def _page(items: list[Any], query: dict[str, Any]) -> dict[str, Any]:
    start = (query["page"] - 1) * query["per_page"]
    return {"items": items[start:start + query["per_page"]], "total": len(items), "page": query["page"],
            "per_page": query["per_page"]}
