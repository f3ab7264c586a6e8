"""Demo data: one user per role, the routines deployed, a few instances at various stages.

The instances come from the stories in ``service.demo_routines``, advanced through the same
operations the API uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import select

from .actor import SYSTEM
from .auth import actor_for
from .errors import Invalid
from .models import HumanTask, TaskStatus, User
from .operations.deploy import deploy_tree
from .operations.instances import start_instance
from .operations.tasks import complete_task
from .operations.users import create_user
from .roles import ROLES
from .services import Services

logger = logging.getLogger(__name__)

ALL = ["Centrum", "Hisingen", "Nordost", "Sydväst"]

# Demo users: username -> (display name, roles, districts). City-wide functions get every district.
DEMO_USERS: dict[str, tuple[str, list[str], list[str]]] = {
    "anna.enhetschef": ("Anna Lind (enhetschef utförare)", ["enhetschef_utforare"], ["Nordost"]),
    "sara.socsek": ("Sara Berg (socialsekreterare)", ["socialsekreterare"], ["Nordost"]),
    "sven.socsek": ("Sven Holm (socialsekreterare)", ["socialsekreterare"], ["Hisingen"]),
    "fia.forste": ("Fia Ek (1:e socialsekreterare)", ["forste_socialsekreterare"], ["Nordost"]),
    "mona.mottag": ("Mona Ström (Mottag Nordost)", ["mottag"], ["Nordost"]),
    "jonas.jour": ("Jonas Dahl (Socialjouren)", ["socialjouren"], ALL),
    "maja.myndighet": ("Maja Nord (myndighetsledning)", ["myndighet"], ["Nordost"]),
    "erik.ecmyndighet": ("Erik Sand (enhetschef myndighet)", ["enhetschef_myndighet"], ["Nordost"]),
    "vera.vcmyndighet": ("Vera Qvist (verksamhetschef myndighet)", ["verksamhetschef_myndighet"], ["Nordost"]),
    "kurt.korttid": ("Kurt Lund (verksamhetschef korttidsboende vuxna)", ["verksamhetschef_korttidsboende_vuxna"], ALL),
    "karin.korttidbarn": ("Karin Ahl (enhetschef korttidshem barn)", ["enhetschef_korttidshem_barn"], ALL),
    "bo.bistand": ("Bo Falk (biståndshandläggare)", ["bistandshandlaggare"], ["Nordost"]),
    "moa.mottagning": ("Moa Rask (mottagningsfunktionen)", ["mottagningsfunktionen"], ["Nordost"]),
    "ulf.utforare": ("Ulf Vik (privat utförare)", ["utforare"], ALL),
    "mia.mottagare": ("Mia Roos (mottagare)", ["mottagare"], ["Nordost"]),
    "eva.eku": ("Eva Kron (EKU)", ["eku"], ALL),
    "ulla.utvecklingsledare": ("Ulla Borg (utvecklingsledare förmedling BmSS)", ["utvecklingsledare_formedling_bmss"],
                               ["Nordost"]),
    "bengt.bmss": ("Bengt Sjö (enhetschef BmSS)", ["enhetschef_bmss"], ["Nordost"]),
    "fredrik.fastighet": ("Fredrik Ros (enhetschef fastighet)", ["enhetschef_fastighet"], []),
    "ebba.utforaravd": ("Ebba Mark (enhetschef utföraravdelning)", ["enhetschef_utforaravdelning"], []),
    "vilma.utforaravd": ("Vilma Ny (verksamhetschef utföraravdelning)", ["verksamhetschef_utforaravdelning"], []),
    "per.personligtstod": ("Per Alm (verksamhetschef personligt stöd)", ["verksamhetschef_personligt_stod"], []),
    "bea.bemanning": ("Bea Tall (enhetschef bemanning)", ["enhetschef_bemanning"], []),
    "hanna.hsl": ("Hanna Ek (verksamhetschef hälso- och sjukvård)", ["verksamhetschef_halso_sjukvard"], []),
    "frida.vardkontakt": ("Frida Gran (fast vårdkontakt, regionen)", ["fast_vardkontakt"], []),
    "paula.processagare": ("Paula Holm (processägare)", ["processagare"], []),
    "clara.chef": ("Clara Wik (chef)", ["chef"], ALL),
    "alva.auditor": ("Alva Rehn (granskare)", ["auditor"], []),
    "adam.admin": ("Adam Frost (administratör)", ["admin"], []),
}


def load_demo(services: Services, password: str) -> Iterator[str]:
    """Create what is missing (safe to run again) and yield lines describing it."""
    with services.db.read() as session:
        existing = set(session.scalars(select(User.username)))
    covered = {role for _, roles, _ in DEMO_USERS.values() for role in roles}
    missing_roles = ROLES - covered
    if missing_roles:
        logger.warning("demo users miss roles: %s", ", ".join(sorted(missing_roles)))
    yield f"Demo users (password: {password}):"
    for username, (name, roles, districts) in DEMO_USERS.items():
        if username not in existing:
            create_user(services, username, roles=roles, districts=districts, password=password, display_name=name)
        yield f"  {username:26} {', '.join(roles)}" + (f"  [{', '.join(districts)}]" if districts else "")
    try:
        deployed = deploy_tree(services, SYSTEM, services.config.bpmn_dir, services.config.forms_dir)
    except Invalid as err:
        for problem in err.extra.get("problems", []):
            yield f"  not deployed: {problem['file']} {problem.get('element') or ''}: {problem['message']}"
        deployed = []
    for definition in deployed:
        yield f"Deployed {definition.key} version {definition.version}"
    if existing & set(DEMO_USERS):
        return  # instances only on a new database
    actors = {}
    with services.db.read() as session:
        for user in session.scalars(select(User)):
            actors[user.username] = actor_for(user)

    def start(process: str, username: str, data: dict, case_ref: str | None = None):  # type: ignore[no-untyped-def,type-arg]
        instance, changes = start_instance(services, actors[username], process, data, case_ref=case_ref)
        return instance, changes.created_tasks

    def complete(task_id: str, username: str, data: dict):  # type: ignore[no-untyped-def,type-arg]
        complete_task(services, actors[username], task_id, data)
        with services.db.read() as session:  # every open task of the instance, not only the new ones
            task = session.get(HumanTask, task_id)
            return list(session.scalars(select(HumanTask).where(
                HumanTask.instance_id == task.instance_id, HumanTask.status == TaskStatus.OPEN)))

    from .demo_routines import STORIES

    today = services.clock.local_now().date()
    for definition in deployed:
        story = STORIES.get(definition.key)
        if story is None:
            continue
        try:
            count = story(start, complete, today)
            yield f"Started {count} demo instance(s) of {definition.key}"
        except Exception as err:  # demo data must never stop the service from starting
            logger.exception("demo instances of %s failed", definition.key)
            yield f"  demo instances of {definition.key} failed: {err}"
