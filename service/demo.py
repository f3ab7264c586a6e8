"""Demo data: the organisations, one user per role (and the people of each provider company), the
routines deployed, a few instances at various stages.

Besides the authority (``myndighet``) there are provider companies — at least two for every routine
with a provider's side, in the same districts — the region, another förvaltning and EKU, each with
people in it, so the need-to-know rules (``shared/DESIGN.md``, "Access to case data") can be tried:
sign in as a competitor and the other company's cases are not there.

The instances come from the stories in ``service.demo_routines``, advanced through the same
operations the API uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import select

from .actor import SYSTEM
from .auth import actor_for
from .directory import add_organisation, organisations
from .errors import Invalid
from .models import DEFAULT_ORGANISATION, HumanTask, TaskStatus, User
from .operations.deploy import deploy_tree
from .operations.instances import start_instance
from .operations.tasks import complete_task
from .operations.users import create_user
from .roles import ROLES
from .services import Services

logger = logging.getLogger(__name__)

ALL = ["Centrum", "Hisingen", "Nordost", "Sydväst"]
AUTHORITY = DEFAULT_ORGANISATION  # the authority's own units (``myndighet``), there from the first migration

#: The routines with a provider's side: each has at least two provider companies working in the same
#: districts, so that a competitor — who must never see another company's cases — can be tried.
PROVIDER_ROUTINES = ("skyddsombudsstopp", "utokat_stod_14_dagar", "klagomal_privat_utforare")

#: Demo organisations besides the authority: key -> (kind, name, the routines a provider works in).
DEMO_ORGANISATIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "nordost_omsorg": ("utforare", "Nordost Omsorg AB", PROVIDER_ROUTINES),
    "trygga_hem": ("utforare", "Trygga Hem Omsorg AB", PROVIDER_ROUTINES),
    "vastra_boenden": ("utforare", "Västra Boenden LSS AB", ("skyddsombudsstopp", "klagomal_privat_utforare")),
    "regionen": ("region", "Västra Götalandsregionen, Vårdcentralen Nordost", ()),
    "aldre_vard_omsorg": ("annan_forvaltning", "Äldre samt vård- och omsorgsförvaltningen", ()),
    "eku": ("eku", "Enheten för kontrakt och uppföljning", ()),
}

# Demo users: username -> (display name, roles, districts). City-wide functions get every district.
DEMO_USERS: dict[str, tuple[str, list[str], list[str]]] = {
    "anna.enhetschef": ("Anna Lind", ["enhetschef_utforare"], ["Nordost"]),
    "lars.enhetschef": ("Lars Öberg", ["enhetschef_utforare"], ["Nordost"]),
    "oskar.enhetschef": ("Oskar Nyman", ["enhetschef_utforare"], ["Hisingen", "Nordost"]),
    "sara.socsek": ("Sara Berg", ["socialsekreterare"], ["Nordost"]),
    "sven.socsek": ("Sven Holm", ["socialsekreterare"], ["Hisingen"]),
    "fia.forste": ("Fia Ek", ["forste_socialsekreterare"], ["Nordost"]),
    "mona.mottag": ("Mona Ström", ["mottag"], ["Nordost"]),
    "jonas.jour": ("Jonas Dahl", ["socialjouren"], ALL),
    "maja.myndighet": ("Maja Nord", ["myndighet"], ["Nordost"]),
    "erik.ecmyndighet": ("Erik Sand", ["enhetschef_myndighet"], ["Nordost"]),
    "vera.vcmyndighet": ("Vera Qvist", ["verksamhetschef_myndighet"], ["Nordost"]),
    "kurt.korttid": ("Kurt Lund", ["verksamhetschef_korttidsboende_vuxna"], ALL),
    "karin.korttidbarn": ("Karin Ahl", ["enhetschef_korttidshem_barn"], ALL),
    "vilma.korttidsvistelse": ("Vilma Strand", ["verksamhetschef_korttidsvistelse_barn"], ALL),
    "bo.bistand": ("Bo Falk", ["bistandshandlaggare"], ["Nordost"]),
    "moa.mottagning": ("Moa Rask", ["mottagningsfunktionen"], ["Nordost"]),
    "ulf.utforare": ("Ulf Vik", ["utforare"], ALL),
    "tina.utforare": ("Tina Sjöberg", ["utforare"], ALL),
    "nils.utforare": ("Nils Hed", ["utforare"], ["Hisingen", "Nordost"]),
    "mia.mottagare": ("Mia Roos", ["mottagare"], ["Nordost"]),
    "eva.eku": ("Eva Kron", ["eku"], ALL),
    "ulla.utvecklingsledare": ("Ulla Borg", ["utvecklingsledare_formedling_bmss"], ["Nordost"]),
    "bengt.bmss": ("Bengt Sjö", ["enhetschef_bmss"], ["Nordost"]),
    "fredrik.fastighet": ("Fredrik Ros", ["enhetschef_fastighet"], []),
    "ebba.utforaravd": ("Ebba Mark", ["enhetschef_utforaravdelning"], []),
    "vilma.utforaravd": ("Vilma Ny", ["verksamhetschef_utforaravdelning"], []),
    "per.personligtstod": ("Per Alm", ["verksamhetschef_personligt_stod"], []),
    "bea.bemanning": ("Bea Tall", ["enhetschef_bemanning"], []),
    "hanna.hsl": ("Hanna Ek", ["verksamhetschef_halso_sjukvard"], []),
    "frida.vardkontakt": ("Frida Gran", ["fast_vardkontakt"], ["Nordost"]),
    "paula.processagare": ("Paula Holm", ["processagare"], []),
    "clara.chef": ("Clara Wik", ["chef"], ALL),
    "alva.auditor": ("Alva Rehn", ["auditor"], []),
    "adam.admin": ("Adam Frost", ["admin"], []),
    "journal.robot": ("Journalkopplingen", ["extern_arbetare"], []),  # a program: fetches external tasks
}

#: Who works outside the authority: username -> organisation key (everyone else: the authority).
DEMO_MEMBERSHIP: dict[str, str] = {
    "anna.enhetschef": "nordost_omsorg", "ulf.utforare": "nordost_omsorg",
    "lars.enhetschef": "trygga_hem", "tina.utforare": "trygga_hem",
    "oskar.enhetschef": "vastra_boenden", "nils.utforare": "vastra_boenden",
    "frida.vardkontakt": "regionen",
    "hanna.hsl": "aldre_vard_omsorg",  # R2 invites her as another förvaltning's verksamhetschef
    "eva.eku": "eku",
}


def organisation_of(username: str) -> str:
    return DEMO_MEMBERSHIP.get(username, AUTHORITY)


def _organisations(services: Services) -> Iterator[str]:
    """Register the demo organisations that are missing; yield a line for each."""
    with services.db.read() as session:
        existing = {o.key for o in organisations(session)}
    yield "Demo organisations:"
    for key, (kind, name, routines) in DEMO_ORGANISATIONS.items():
        if key not in existing:
            add_organisation(services, key, kind=kind, name=name)
        works_in = f" – {', '.join(routines)}" if routines else ""
        yield f"  {key:26} {kind}: {name}{works_in}"


def load_demo(services: Services, password: str) -> Iterator[str]:
    """Create what is missing (safe to run again) and yield lines describing it."""
    with services.db.read() as session:
        existing = set(session.scalars(select(User.username)))
    covered = {role for _, roles, _ in DEMO_USERS.values() for role in roles}
    missing_roles = ROLES - covered
    if missing_roles:
        logger.warning("demo users miss roles: %s", ", ".join(sorted(missing_roles)))
    yield from _organisations(services)
    yield f"Demo users (password: {password}):"
    for username, (name, roles, districts) in DEMO_USERS.items():
        organisation = organisation_of(username)
        if username not in existing:
            create_user(services, username, roles=roles, districts=districts, password=password, display_name=name,
                        organisation=organisation)
        yield (f"  {username:26} {', '.join(roles)}" + (f"  [{', '.join(districts)}]" if districts else "")
               + (f"  ({DEMO_ORGANISATIONS[organisation][1]})" if organisation != AUTHORITY else ""))
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
