"""Organisations and people: register an organisation, and find the people a form may name.

Pickers search people by display name. Whom a caller may pick is itself need to know: the
authority's staff pick among everyone who works with its cases (colleagues, providers, the region,
other förvaltningar); people of any other organisation pick only among their own colleagues.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .actor import SYSTEM, Actor
from .audit import record
from .errors import Conflict, Invalid
from .models import Organisation, OrganisationKind, User
from .roles import DISTRICTS
from .services import Services

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
#: The most people one search returns: a picker shows a short list and asks for more letters.
SEARCH_LIMIT = 50


def add_organisation(services: Services, key: str, *, kind: str, name: str, actor: Actor = SYSTEM) -> Organisation:
    """Register an organisation (``samverkan organisations add``); its key is what forms store."""
    errors: dict[str, list[str]] = {}
    if not KEY.match(key):
        errors["key"] = ["2–63 characters: lower-case letters, digits, _ -"]
    if kind not in {k.value for k in OrganisationKind}:
        errors["kind"] = [f"one of {', '.join(k.value for k in OrganisationKind)}"]
    if not name or not name.strip() or len(name) > 200:
        errors["name"] = ["1–200 characters"]
    if errors:
        raise Invalid("the organisation is not valid", errors=errors)
    with services.db.command() as session:
        if session.get(Organisation, key) is not None:
            raise Conflict(f"the organisation {key} exists")
        organisation = Organisation(key=key, name=name.strip(), kind=OrganisationKind(kind), created_at=services.now())
        session.add(organisation)
        record(session, actor, "organisation_added", key=key, kind=kind, name=organisation.name)
    return organisation


def organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.kind, Organisation.name)))


@dataclass(frozen=True)
class PersonQuery:
    text: str | None = None
    role: str | None = None
    district: str | None = None


def search_people(session: Session, actor: Actor, query: PersonQuery, *, limit: int = SEARCH_LIMIT) -> list[User]:
    """Active people the caller may pick, matching the display name or username, a role, a district.

    Roles and districts are JSON lists (portable SQL has no containment test), so those two filter
    the few rows the name search leaves, in Python.
    """
    stmt = select(User).where(User.is_active)
    if not actor.is_authority:
        stmt = stmt.where(User.organisation_key == actor.organisation)
    if query.text:
        pattern = "%" + query.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(func.lower(User.display_name).like(pattern, escape="\\"),
                              func.lower(User.username).like(pattern, escape="\\")))
    found = []
    for user in session.scalars(stmt.order_by(User.display_name, User.username)):
        if query.role and query.role not in user.roles:
            continue
        if query.district and query.district not in user.districts:
            continue
        found.append(user)
        if len(found) >= limit:
            break
    return found


def person_summary(user: User) -> dict[str, object]:
    return {"username": user.username, "display_name": user.display_name, "roles": list(user.roles),
            "districts": list(user.districts), "organisation": user.organisation_key}


#: The most people a form's person field offers (a picker lists them by name).
CHOICE_LIMIT = 500


def with_choices(session: Session, actor: Actor, schema: Mapping[str, Any] | None, *,
                 district: str | None = None) -> Mapping[str, Any] | None:
    """``schema`` with its ``x-organisation`` and ``x-person`` fields closed to what may be chosen.

    An organisation field holds the key of a registered organisation of its kind (for someone of that
    kind outside the authority: their own organisation only); a person field the username of an
    active person the caller may pick (``search_people``), optionally of the roles
    ``{"x-person": {"roles": [...]}}`` names — or, with ``"kind"``, of organisations of that kind; an
    ``x-districts`` field one of the municipality's configured districts (``SAMVERKAN_DISTRICTS``),
    and no field at all where it has none.
    A person field's rule may narrow it further: ``"district": true`` — only people working in the
    task's ``district`` (R3: the district's handläggare); ``"organisation": "<field>"`` — only people of
    the organisation the sibling ``<field>`` names (R4: the provider's own staff, never a competitor's),
    each offered with their organisation's name and checked against the named one when the form is sent.
    The same enriched schema validates a submission (an unknown key or a mistyped name is refused
    like any wrong choice) and renders each field as a picker showing names, so nobody types
    usernames.
    """
    if schema is None:
        return schema
    keys = _keys(schema)
    if not keys & {"x-organisation", "x-person", "x-districts"}:
        return schema
    by_kind: dict[str, list[Organisation]] = {}
    for organisation in organisations(session):
        by_kind.setdefault(organisation.kind.value, []).append(organisation)
    people = search_people(session, actor, PersonQuery(), limit=CHOICE_LIMIT) if "x-person" in keys else []
    names = {o.key: o.name for found in by_kind.values() for o in found}

    def of_kind(kind: str) -> list[User]:
        """A field that names someone of another organisation's kind (a provider naming the client's
        socialsekreterare at the authority) offers that kind's people, whoever fills it in."""
        return list(session.scalars(select(User).join(User.organisation).where(
            User.is_active, Organisation.kind == kind).order_by(User.display_name, User.username).limit(CHOICE_LIMIT)))

    def close(node: Any) -> Any:
        if isinstance(node, dict):
            node = {key: close(value) for key, value in node.items()}
            kind = node.get("x-organisation")
            if isinstance(kind, str) and node.get("type") in ("string", None):
                choices = by_kind.get(kind, [])
                if not actor.is_internal and kind == actor.organisation_kind:
                    # a provider names itself, never a competitor (nor the region another region)
                    choices = [o for o in choices if o.key == actor.organisation]
                node["enum"], node["x-enum-labels"] = [o.key for o in choices], [o.name for o in choices]
            if node.get("x-districts") and node.get("type") in ("string", None):
                node["enum"] = node["x-enum-labels"] = sorted(DISTRICTS)
            properties = node.get("properties")
            if not DISTRICTS and isinstance(properties, dict):
                # a municipality without districts (Staffanstorp) is never asked for one, least of all Göteborg's
                gone = {k for k, v in properties.items() if _asks_for_district(v)}
                node["properties"] = {k: v for k, v in properties.items() if k not in gone}
                if isinstance(node.get("required"), list):
                    node["required"] = [name for name in node["required"] if name not in gone]
            wanted = node.get("x-person")
            if wanted and node.get("type") in ("string", None):
                roles = set(wanted.get("roles") or []) if isinstance(wanted, dict) else set()
                kind = wanted.get("kind") if isinstance(wanted, dict) else None
                pool = people if kind is None else of_kind(kind)
                chosen = [p for p in pool if not roles or roles & set(p.roles)]
                if isinstance(wanted, dict) and wanted.get("district") and district:
                    chosen = [p for p in chosen if district in p.districts]
                node.pop("pattern", None)  # the choice itself is the check
                node["enum"] = [p.username for p in chosen]
                node["x-enum-labels"] = [_label(p) for p in chosen]
                if isinstance(wanted, dict) and wanted.get("organisation"):
                    node["x-person-organisations"] = [p.organisation_key for p in chosen]
                    node["x-enum-labels"] = [_label(p, names.get(p.organisation_key or "")) for p in chosen]
            if isinstance(properties, dict):
                _tie_people_to_organisations(node)
            return node
        if isinstance(node, list):
            return [close(item) for item in node]
        return node

    closed: Mapping[str, Any] = close(schema)
    return closed


def _keys(node: Any) -> set[str]:
    """Every key of every object in a schema: whether it has choice fields at all (a substring test
    would take ``x-personal-data`` for ``x-person`` and read every user for every form)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _asks_for_district(field: Any) -> bool:
    """A field that is a district (``x-districts``) or a list of them (R4's areas of deviations)."""
    if not isinstance(field, dict):
        return False
    items = field.get("items")
    return bool(field.get("x-districts")) or (isinstance(items, dict) and bool(items.get("x-districts")))


def _tie_people_to_organisations(node: dict[str, Any]) -> None:
    """An object's person fields ruled ``"organisation": "<field>"`` accept only that organisation's people.

    Every choice is checked against the named organisation when the form is sent (one ``if``/``then``
    per organisation; an organisation without such people accepts none)."""
    properties = node["properties"]
    for name, field in list(properties.items()):
        rule = field.get("x-person") if isinstance(field, dict) else None
        source = rule.get("organisation") if isinstance(rule, dict) else None
        if not isinstance(source, str) or not isinstance(properties.get(source), dict):
            continue
        members: dict[str, list[int]] = {}
        for index, organisation in enumerate(field.get("x-person-organisations") or []):
            members.setdefault(organisation, []).append(index)
        usernames = field.get("enum") or []
        rules = [{"if": {"properties": {source: {"const": key}}, "required": [source]},
                  "then": {"properties": {name: {"enum": [usernames[i] for i in indexes]}}}}
                 for key, indexes in members.items()]
        others = {"if": {"properties": {source: {"not": {"enum": sorted(members)}}}, "required": [source]},
                  "then": {"properties": {name: {"enum": []}}}}
        node["allOf"] = [*(node.get("allOf") or []), *rules, others]
        field.pop("x-person-organisations", None)


def _label(user: User, organisation: str | None = None) -> str:
    where = ", ".join(filter(None, [organisation, *user.districts]))
    return f"{user.display_name} ({where})" if where else user.display_name


def display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    """Usernames → the names people know each other by (pages show names, not usernames)."""
    names = sorted(u for u in usernames if u)
    if not names:
        return {}
    return dict(session.execute(select(User.username, User.display_name).where(User.username.in_(names))).all())
