"""Who may send a BPMN message to a case: the roles its catching element allows (``messageRoles``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from service.actor import Actor


def may_send(actor: Actor, allowed_roles: Iterable[str]) -> bool:
    """Only holders of a role the catching element names; an element that names none takes no one's
    message but the service's own (and admin's, operating it)."""
    roles = set(allowed_roles)
    if actor.is_system:
        return True
    if not roles:
        return actor.has("admin")
    return bool(actor.roles & roles)


def sendable(actor: Actor, waits_for: Iterable[str], message_roles: Mapping[str, list[str]]) -> list[str]:
    """The messages a case waits for that ``actor`` may send, for buttons on the case page."""
    return [name for name in waits_for if may_send(actor, message_roles.get(name, []))]
