"""Tokens and the caller's own profile."""

from __future__ import annotations

from typing import Any

from service.operations.users import login

from . import api
from .context import current_actor, json_body, services
from .registry import endpoint
from .schemas import MeSchema, TokenCreateSchema, TokenSchema


@endpoint(api, "/auth/token", "POST", summary="Exchange username and password for an API token", tag="auth",
          body=TokenCreateSchema, response=TokenSchema, auth=False)
def create_token() -> Any:
    body = TokenCreateSchema().load(json_body())
    token, expires_at = login(services(), body["username"], body["password"])
    return TokenSchema().dump({"token": token, "expires_at": expires_at})


@endpoint(api, "/me", "GET", summary="The signed-in user", tag="auth", response=MeSchema)
def me() -> Any:
    actor = current_actor()
    assert actor is not None
    return MeSchema().dump({"username": actor.username, "display_name": actor.display_name,
                            "roles": sorted(actor.roles), "districts": sorted(actor.districts)})
