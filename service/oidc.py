"""Sign-in through the municipality's identity provider (OpenID Connect, via Authlib).

Configuration only (``SAMVERKAN_OIDC_*``, README "Sign-in with the municipality's SSO"): the issuer,
the client id and secret, and how the ID token's claims map onto Samverkan's user: a username claim,
a groups claim whose values ``role_map`` turns into role keys, a claim holding the districts and one
holding the organisation's key. Each sign-in writes what the claims say now onto the user row, so a
user whose groups no longer grant a role loses it at that sign-in; one whose groups grant none loses
every role, and every session and API token of theirs ends.

The ID token is checked by Authlib (signature against the provider's keys, issuer, audience = our
client id, expiry, nonce) before any claim is read. Local accounts stay: an account with a local
password is never signed in or changed through the provider (a name clash is refused). API tokens
of provider users stay valid while their roles do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .actor import Actor
from .audit import record
from .models import ApiToken, Organisation, User
from .operations.users import USERNAME
from .roles import DISTRICTS, ROLES
from .services import Services


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid profile email"
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    role_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group → role keys
    districts_claim: str = "districts"
    organisation_claim: str = "organisation"

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OidcSettings | None:
        """None unless an issuer is configured; a half or wrong configuration stops start-up."""
        issuer = env.get("SAMVERKAN_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        client_id = env.get("SAMVERKAN_OIDC_CLIENT_ID", "").strip()
        client_secret = env.get("SAMVERKAN_OIDC_CLIENT_SECRET", "")
        if not client_id or not client_secret:
            raise ValueError("SAMVERKAN_OIDC_ISSUER needs SAMVERKAN_OIDC_CLIENT_ID and SAMVERKAN_OIDC_CLIENT_SECRET")
        optional = {"scopes": "SAMVERKAN_OIDC_SCOPES", "username_claim": "SAMVERKAN_OIDC_USERNAME_CLAIM",
                    "groups_claim": "SAMVERKAN_OIDC_GROUPS_CLAIM", "districts_claim": "SAMVERKAN_OIDC_DISTRICTS_CLAIM",
                    "organisation_claim": "SAMVERKAN_OIDC_ORGANISATION_CLAIM"}
        values: dict[str, Any] = {name: env[var].strip() for name, var in optional.items() if env.get(var)}
        return cls(issuer=issuer, client_id=client_id, client_secret=client_secret,
                   role_map=parse_role_map(env.get("SAMVERKAN_OIDC_ROLE_MAP", "{}")), **values)


def parse_role_map(text: str) -> dict[str, tuple[str, ...]]:
    """``{"group": "role"}`` or ``{"group": ["role", ...]}`` (JSON); every role must be a known key."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"SAMVERKAN_OIDC_ROLE_MAP is not JSON: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError("SAMVERKAN_OIDC_ROLE_MAP must be a JSON object: group → role or [roles]")
    mapped = {str(group): tuple([roles] if isinstance(roles, str) else roles) for group, roles in raw.items()}
    unknown = sorted({r for roles in mapped.values() for r in roles} - ROLES)
    if unknown:
        raise ValueError(f"SAMVERKAN_OIDC_ROLE_MAP names unknown role(s): {', '.join(map(str, unknown))}")
    return mapped


class SignInRefused(Exception):
    """A provider sign-in Samverkan will not accept: ``reason`` (missing_claim, bad_username,
    unknown_organisation, local_account, deactivated, no_role) and its details; the sign-in page
    words it for the person."""

    def __init__(self, reason: str, status: int = 401, **details: str) -> None:
        super().__init__(reason, details)
        self.reason = reason
        self.status = status
        self.details = details


@dataclass(frozen=True)
class Identity:
    """What the claims say a user is, now."""

    username: str
    display_name: str
    email: str | None
    roles: list[str]
    districts: list[str]
    organisation: str


def identity_from_claims(settings: OidcSettings, claims: Mapping[str, Any]) -> Identity:
    """Map validated ID token claims onto a Samverkan user; a missing claim is refused, naming it."""
    for claim in (settings.username_claim, settings.groups_claim, settings.districts_claim,
                  settings.organisation_claim):
        if claim not in claims:
            raise SignInRefused("missing_claim", claim=claim)
    username = str(claims[settings.username_claim]).strip().lower()
    if not USERNAME.match(username):
        raise SignInRefused("bad_username", username=username[:100])
    groups = _strings(claims[settings.groups_claim])
    roles = sorted({role for group in groups for role in settings.role_map.get(group, ())})
    districts = sorted(set(_strings(claims[settings.districts_claim])) & DISTRICTS)
    display_name = str(claims.get("name") or username).strip()[:200] or username
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    return Identity(username, display_name, email, roles, districts, str(claims[settings.organisation_claim]))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def sign_in_with_claims(services: Services, settings: OidcSettings, claims: Mapping[str, Any]) -> User:
    """Create or refresh the user the claims describe; refuse one they grant no role (who then loses
    every role, session and token)."""
    identity = identity_from_claims(settings, claims)
    try:
        return _refresh(services, identity)
    except IntegrityError:  # a first sign-in in two tabs at once: the other created the user; refresh it
        return _refresh(services, identity)


def _refresh(services: Services, identity: Identity) -> User:
    with services.db.command() as session:
        organisation = session.get(Organisation, identity.organisation)
        if organisation is None:
            raise SignInRefused("unknown_organisation", 403, organisation=identity.organisation[:100])
        user = session.scalars(select(User).where(User.username == identity.username).with_for_update(of=User)).first()
        if user is not None and user.password_hash:
            raise SignInRefused("local_account", 403)
        if user is not None and not user.is_active:
            raise SignInRefused("deactivated", 403)
        actor = Actor(identity.username)
        if user is None:
            if not identity.roles:
                raise SignInRefused("no_role", 403)
            user = User(username=identity.username, password_hash=None, created_at=services.now(), roles=[],
                        districts=[], display_name=identity.display_name)
            session.add(user)
            record(session, actor, "user_created", username=identity.username, roles=identity.roles,
                   districts=identity.districts, organisation=identity.organisation, source="oidc")
        changed = (user.roles, user.districts, user.organisation_key) != (
            identity.roles, identity.districts, identity.organisation)
        if changed and user.id is not None:
            record(session, actor, "user_claims_changed", username=identity.username, roles=identity.roles,
                   districts=identity.districts, organisation=identity.organisation)
            user.session_epoch += 1  # other sessions end; an API token's actor is rebuilt with the new roles
        user.roles, user.districts = identity.roles, identity.districts
        user.organisation_key, user.organisation = identity.organisation, organisation
        user.display_name, user.email = identity.display_name, identity.email
        if not identity.roles:
            session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
            refused = True
        else:
            refused = False
            record(session, actor, "signed_in", method="oidc")
    if refused:
        raise SignInRefused("no_role", 403)
    return user
