"""Which lanes offer their tasks to a set of roles, now that a deployed version may map its own lanes.

A lane's roles come from ``bpmn/lanes.json`` unless the version its task belongs to mapped the lane
itself (``ProcessDefinition.lanes``, chosen at deploy). The inbox and the need-to-know queries
select tasks by lane (indexed), so the lanes are split in two:

- ``plain``: every mapping of the lane (the default and each version's own) holds one of the roles —
  any task in it is offered to them, as before;
- ``checked``: some mappings hold one of the roles and some do not (the same name means different
  people in different routines) — there the task's own ``roles`` (set when it was made, from its
  version's mapping) decide.

A lane no mapping gives the roles is left out. The deployed mappings are read once per new version
(definitions are immutable: the highest id says whether anything changed).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from service.models import HumanTask, ProcessDefinition
from service.models.definition import VERSIONS

if TYPE_CHECKING:
    from service.services import Services


@dataclass(frozen=True)
class OfferedLanes:
    """The lanes whose tasks are offered to some roles (see the module's docstring)."""

    plain: tuple[str, ...]
    checked: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[str]:
        return iter((*self.plain, *self.checked))

    def __bool__(self) -> bool:
        return bool(self.plain or self.checked)


def lane_condition(lanes: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the task lies in one of ``lanes`` (and, in a ``checked`` lane, names one of the roles)."""
    if not isinstance(lanes, OfferedLanes):
        return HumanTask.lane.in_(sorted(set(lanes)))
    plain = HumanTask.lane.in_(sorted(lanes.plain))
    if not lanes.checked:
        return plain
    # roles is a JSON list of role keys (letters and _): the key in quotes matches exactly one element
    roles_text = cast(HumanTask.roles, String)
    holds = or_(*(roles_text.like('%"' + role.replace("_", "\\_") + '"%', escape="\\")
                  for role in sorted(lanes.roles)))
    return or_(plain, and_(HumanTask.lane.in_(sorted(lanes.checked)), holds))


# per database, as its deployed versions are (``Database.versions``: one process may serve several)
_cache: weakref.WeakKeyDictionary[object, tuple[object, dict[str, list[frozenset[str]]]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_NEWEST = select(func.max(ProcessDefinition.id))  # built once: asked on every inbox and case list


def deployed_mappings(services: Services, session: Session | None = None) -> dict[str, list[frozenset[str]]]:
    """Lane → the role sets the deployed versions mapped it to (only lanes some version maps itself).

    ``session``: the request's read session, if it has one, so the check for a newer version (one
    indexed query, which sees a version another process deployed) rides in its transaction.
    """
    if session is None:
        with services.db.read() as own:
            return deployed_mappings(services, own)
    key = session.info[VERSIONS]
    newest = session.connection().scalar(_NEWEST)  # a column read: no ORM execution needed
    cached = _cache.get(key)
    if cached is not None and cached[0] == newest:
        return cached[1]
    found: dict[str, set[frozenset[str]]] = {}
    for lanes in session.scalars(select(ProcessDefinition.lanes)):
        for lane, roles in (lanes or {}).items():
            found.setdefault(lane, set()).add(frozenset(roles))
    mappings = {lane: sorted(sets, key=sorted) for lane, sets in found.items()}
    with _lock:
        _cache[key] = (newest, mappings)
    return mappings


def offered_lanes(services: Services, roles: Iterable[str], session: Session | None = None) -> OfferedLanes:
    """The lanes whose tasks are offered to ``roles``, given ``bpmn/lanes.json`` and every version's own
    lanes (``session`` as for ``deployed_mappings``)."""
    mine = frozenset(roles)
    own = deployed_mappings(services, session)
    plain, checked = [], []
    for lane in sorted(set(services.lanes.mapping) | set(own)):
        mappings = [frozenset(services.lanes.mapping[lane])] if lane in services.lanes.mapping else []
        mappings += own.get(lane, [])
        hits = [bool(mine & mapping) for mapping in mappings]
        if hits and all(hits):
            plain.append(lane)
        elif any(hits):
            checked.append(lane)
    return OfferedLanes(tuple(plain), tuple(checked), tuple(sorted(mine)))
