"""Deploy diagrams and forms as new process-definition versions."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from lxml import etree
from sqlalchemy import func, select

from service.actor import Actor
from service.audit import record
from service.engine.specs import BPMN_NS, Bundle, Deployed, LaneRoles, parse_bundle
from service.engine.xml import XmlRejected, parse_xml
from service.errors import Forbidden, Invalid, TooLarge
from service.models import ProcessDefinition
from service.roles import LANE_ROLES
from service.services import Services


@dataclass
class Deployment:
    """What a deploy did: the latest version of each process, and which of them were already deployed."""

    definitions: list[ProcessDefinition] = field(default_factory=list)
    unchanged: set[str] = field(default_factory=set)
    warnings: list[dict[str, str | None]] = field(default_factory=list)  # what deploy assumed or rewrote


def deploy(services: Services, actor: Actor, files: Mapping[str, bytes], *,
           comment: str | None = None, lanes: Any = None) -> list[ProcessDefinition]:
    """Validate ``files`` (filename → bytes) and store each executable process as a new version.

    Every problem is reported at once (``Invalid`` with ``extra['problems']``). Uploading a
    process identical to its latest version creates no new version and returns the latest.
    """
    return deploy_files(services, actor, files, comment=comment, lanes=lanes).definitions


def deploy_files(services: Services, actor: Actor, files: Mapping[str, bytes], *,
                 comment: str | None = None, lanes: Any = None) -> Deployment:
    """``deploy``, also telling which processes were unchanged (the same diagrams and forms as deployed).

    "The same" is judged on content, not bytes: the editor writes the XML back in its own layout
    (attribute order, namespace prefixes, indentation), which is no change a process owner made.

    ``lanes`` (lane name → role keys, or its JSON text) maps lanes for these versions; a lane it does
    not name keeps the mapping of the process's latest version, else ``bpmn/lanes.json``.
    """
    if not actor.has("processagare", "admin"):
        raise Forbidden("deploying diagrams needs the role processagare")
    total = sum(len(content) for content in files.values())
    if total > services.config.max_upload_bytes:
        raise TooLarge(f"the upload is {total} bytes; the limit is {services.config.max_upload_bytes}")
    chosen = lane_choice(lanes)
    names, process_ids = _scan(files)
    with services.db.read() as session:
        existing = _latest_forms(session)
        deployed = latest_deployed(session)
        inherited = _latest_lanes(session, process_ids)
    own = {**inherited, **chosen}
    mapping = services.lanes.with_own(own)
    starters = sorted({"processagare", *(r for r in actor.roles if r != "admin")})
    bundle = _parse(files, mapping, existing, starters, deployed)
    if bundle.problems:
        problems = [explain(p.as_dict(), names) for p in bundle.problems]
        raise Invalid(f"the diagram has {len(problems)} problem(s)",
                      errors={"files": [_line(p) for p in problems]}, extra={"problems": problems})
    drawn = set().union(*(process.lanes for process in bundle.processes))
    result = Deployment(warnings=[explain(p.as_dict(), names) for p in bundle.warnings] + [
        explain({"file": "", "element": None, "message": f"lane {lane!r} given in lanes is drawn in no diagram:"
                 " ignored"}, names) for lane in sorted(set(chosen) - drawn)])
    with services.db.command() as session:
        for process in bundle.processes:
            own_lanes = {lane: sorted(own[lane]) for lane in sorted(process.lanes) if lane in own}
            checksum = _with_lanes(bundle.checksum(process.key), own_lanes)
            latest = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == process.key)
                                     .order_by(ProcessDefinition.version.desc()).limit(1)).first()
            forms = {name: bundle.forms[f"{process.key}/{name}"] for name in sorted(process.form_files)}
            bpmn_files = dict(bundle.bpmn_files)
            if latest is not None and (latest.checksum == checksum or (
                    dict(latest.lanes or {}) == own_lanes and _same(latest, bpmn_files, forms))):
                result.definitions.append(latest)
                result.unchanged.add(process.key)
                continue
            if latest is not None:
                bpmn_files = {name: titles_follow_renames(xml, latest.bpmn_files.get(name))
                              for name, xml in bpmn_files.items()}
            definition = ProcessDefinition(
                key=process.key, version=(latest.version + 1) if latest else 1, name=process.name,
                bpmn_files=bpmn_files, forms=forms, roles=process.roles, lanes=own_lanes,
                starter_roles=process.starter_roles or ["processagare"], checksum=checksum,
                deployed_by=actor.username, deployed_at=services.now(), comment=comment,
            )
            session.add(definition)
            session.flush()
            record(session, actor, "process_deployed", process=process.key, version=definition.version,
                   checksum=checksum, **({"lanes": json.dumps(own_lanes, ensure_ascii=False)} if own_lanes else {}))
            result.definitions.append(definition)
    return result


# ---- the deployer's lanes ----------------------------------------------------------------------

def lane_choice(raw: Any) -> dict[str, list[str]]:
    """The ``lanes`` of a deploy request (an object, or its JSON text) as lane name → role keys.

    Anything wrong is refused before anything is read or stored: ``Invalid`` with one problem per
    lane (``lane``: the lane it concerns), in the shape of the diagram's problems.
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            where = f" at character {err.pos + 1}" if isinstance(err, json.JSONDecodeError) else ""
            _refuse_lanes([(None, f"lanes is not valid JSON{where}: send an object lane name → list of role keys")])
    if not isinstance(raw, dict):
        _refuse_lanes([(None, "lanes must be a JSON object: lane name → list of role keys")])
    found: list[tuple[str | None, str]] = []
    chosen: dict[str, list[str]] = {}
    for lane, roles in raw.items():
        name = lane.strip() if isinstance(lane, str) else ""
        if not name or len(name) > 100 or name.startswith("$"):
            found.append((str(lane)[:100], "a lane name is 1 to 100 characters and does not start with $"))
            continue
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            found.append((name, f"lane {name!r}: give a non-empty list of role keys"))
            continue
        unknown = sorted({r for r in roles if r not in LANE_ROLES})
        if unknown:
            found.append((name, f"lane {name!r}: unknown role key(s) {', '.join(unknown)}; the roles are"
                          f" {', '.join(sorted(LANE_ROLES))}"))
            continue
        chosen[name] = sorted(set(roles))
    if found:
        _refuse_lanes(found)
    return chosen


def _refuse_lanes(found: list[tuple[str | None, str]]) -> NoReturn:
    problems = [{**explain({"file": "", "element": None, "message": message}, {}), **({"lane": lane} if lane else {})}
                for lane, message in found]
    raise Invalid(f"lanes has {len(problems)} problem(s)", errors={"lanes": [message for _, message in found]},
                  extra={"problems": problems})


def _with_lanes(checksum: str, own_lanes: Mapping[str, list[str]]) -> str:
    """The version's checksum: its files', and the lanes it maps itself (none: as before there were any)."""
    if not own_lanes:
        return checksum
    return hashlib.sha256((checksum + json.dumps(own_lanes, sort_keys=True)).encode()).hexdigest()


def _latest_lanes(session: Any, keys: set[str]) -> dict[str, list[str]]:
    """The lanes the latest versions of ``keys`` mapped themselves: a redeploy keeps them."""
    if not keys:
        return {}
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version")).where(
        ProcessDefinition.key.in_(sorted(keys))).group_by(ProcessDefinition.key).subquery()
    own: dict[str, list[str]] = {}
    for lanes in session.scalars(select(ProcessDefinition.lanes).join(
            latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version))):
        own.update(lanes or {})
    return own


# ---- sameness ----------------------------------------------------------------------------------

def _same(latest: ProcessDefinition, bpmn_files: Mapping[str, str], forms: Mapping[str, Any]) -> bool:
    """The upload says what ``latest`` says: the same forms, and diagrams equal as XML trees."""
    if dict(latest.forms) != dict(forms) or set(latest.bpmn_files) != set(bpmn_files):
        return False
    return all(_canonical(str(latest.bpmn_files[name])) == _canonical(xml) for name, xml in bpmn_files.items())


def _canonical(xml: str) -> Any:
    """An XML tree as nested tuples: names with their namespace, attributes in order, text trimmed.

    Namespace prefixes, attribute order, indentation and the XML declaration do not count.
    """
    try:
        root = parse_xml(xml.encode("utf-8"))
    except XmlRejected:
        return xml

    def walk(element: Any) -> Any:
        if not isinstance(element.tag, str):  # comments and processing instructions
            return None
        children = tuple(c for c in (walk(child) for child in element) if c is not None)
        return (element.tag, tuple(sorted(element.attrib.items())), (element.text or "").strip(), children)

    return walk(root)


# ---- a renamed task shows its new name ----------------------------------------------------------

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|" + r'"(?:[^"\\]|\\.)*"')


def titles_follow_renames(xml: str, previous: str | None) -> str:
    """Make the staff's title of each renamed task start from its new drawn name.

    A task's ``title`` property computes what staff see (the step plus case detail, e.g.
    ``r3_rubrik('Meddela biståndshandläggaren', dag_0)``). Its heading was written for the drawn
    name; when a process owner renames the task but leaves the title as it was, the heading — the
    expression's first text literal — becomes the new name, so the rename shows and the detail stays.
    A title without a literal gets the new name in front. A title the owner edited is left alone.
    """
    if not previous:
        return xml
    try:
        old_root, new_root = parse_xml(previous.encode("utf-8")), parse_xml(xml.encode("utf-8"))
    except XmlRejected:
        return xml
    old_tasks = {e.get("id"): e for e in old_root.iter() if isinstance(e.tag, str) and e.get("id")}
    changed = False
    for element in new_root.iter():
        if not isinstance(element.tag, str) or not element.get("id"):
            continue
        old = old_tasks.get(element.get("id"))
        name, old_name = element.get("name"), None if old is None else old.get("name")
        if not name or not old_name or name == old_name:
            continue
        title, old_title = _title_property(element), _title_property(old)
        if title is None or old_title is None or title.get("value") != old_title.get("value"):
            continue
        title.set("value", retitled(title.get("value") or "", name))
        changed = True
    if not changed:
        return xml
    return etree.tostring(new_root, encoding="unicode")


def _title_property(element: Any) -> Any:
    for prop in element.iterfind(f".//{{{SPIFF_NS}}}property[@name='title']"):
        if prop.getparent() is not None and prop.getparent().getparent() is not None \
                and prop.getparent().getparent().getparent() is element:
            return prop
    return None


def retitled(expression: str, name: str) -> str:
    """The expression with its heading replaced by ``name``; the punctuation joining it to the detail stays."""
    match = _LITERAL.search(expression)
    if match is None:
        return f"{name!r} + ': ' + str({expression})" if expression.strip() else repr(name)
    joint = re.search(r"[^\w)\]?!.]*$", match[0][1:-1])
    heading = repr(name + (joint[0] if joint else ""))
    return expression[:match.start()] + heading + expression[match.end():]


# ---- problems in plain Swedish ------------------------------------------------------------------

def _scan(files: Mapping[str, bytes]) -> tuple[dict[str, str], set[str]]:
    """Element id → drawn name over every diagram of the upload (for problems a person can place), and the
    ids of the processes the diagrams hold (whose latest versions' own lanes a re-deploy keeps)."""
    names: dict[str, str] = {}
    processes: set[str] = set()
    for filename, content in files.items():
        if not filename.endswith((".bpmn", ".bpmn20.xml")):
            continue
        try:
            root = parse_xml(content)
        except XmlRejected:
            continue
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id") and element.get("name"):
                names.setdefault(element.get("id"), " ".join(element.get("name").split()))
        processes.update(p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id"))
    return names, processes


_KINDS_SV = {"message": "meddelandet", "signal": "signalen", "error": "felet", "escalation": "eskaleringen"}


def _timer_fix(where: str) -> str:
    return (f"Tiden i {where} går inte att använda. Ange en varaktighet (t.ex. PT1H, P14D), ett datum"
            " (2026-12-24T08:00:00+01:00) eller en upprepning (R3/PT1H).")


def _quoted(text: str) -> str:
    return f"”{text}”"


_SYNTAX_SV = (
    (re.compile(r"^the tag <(\S+)> opened on line (\d+) is never closed"),
     lambda m: f"taggen <{m[1]}> från rad {m[2]} stängs aldrig. Stäng den (</{m[1]}> eller />)."),
    (re.compile(r"^the tag <(\S+)> opened on line (\d+) is closed by </(\S+)>"),
     lambda m: f"taggen <{m[1]}> från rad {m[2]} stängs med </{m[3]}>. Rätta sluttaggen."),
    (re.compile(r"^the tag <(\S+)> is not finished"),
     lambda m: f"taggen <{m[1]}> är inte avslutad. Kontrollera citattecknen och >."),
    (re.compile(r"^an attribute value lacks its quotes"),
     lambda m: 'ett attributvärde saknar citattecken. Skriv namn="värde".'),
    (re.compile(r"^the attribute (\S+) is given twice"),
     lambda m: f"attributet {m[1]} står två gånger på samma element. Ta bort det ena."),
    (re.compile(r"^a bare & in text"), lambda m: "ett & i texten ska skrivas &amp;."),
    (re.compile(r"^a bare < in text"), lambda m: "ett < i texten ska skrivas &lt;."),
    (re.compile(r"^there is more after the last closing tag"),
     lambda m: "det finns något efter sista sluttaggen. Ett diagram har ett enda rotelement."),
    (re.compile(r"^the file is empty"), lambda m: "filen är tom."),
)


def _syntax_sv(reason: str) -> str:
    for pattern, say in _SYNTAX_SV:
        match = pattern.search(reason)
        if match:
            return str(say(match))
    return "spara diagrammet på nytt från ritverktyget, eller rätta raden."


# English message (from the parser and the checks in service.engine.specs) → plain Swedish.
# Each entry: pattern, and a function of (match, where) giving the text; ``where`` names the element.
_EXPLAINED: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"^lies in no lane: the task goes to whoever started"),
     lambda m, w, n: f"{w} ligger inte i någon lane: uppgiften går till den som startade ärendet."
                     " Lägg den i en lane (eller ange candidateGroups) om en roll ska göra den."),
    (re.compile(r"^start event lies in no lane: started by the roles (.+)$"),
     lambda m, w, n: f"Startpunkten {w} ligger inte i någon lane: ärenden kan startas av rollerna {m[1]}."
                     " Lägg den i en lane om en annan roll ska starta."),
    (re.compile(r"^lies in no lane"),
     lambda m, w, n: f"{w} ligger inte i någon lane, så ingen kan utföra den."
                     " Flytta den till lanen för rollen som ska göra den."),
    (re.compile(r"^candidate group (['\"])(.+)\1 maps to no role"),
     lambda m, w, n: f"Gruppen {_quoted(m[2])} (candidateGroups) i {w} motsvarar ingen roll. Välj vilka"
                     " roller som arbetar i den (i redigeraren, eller fältet lanes), eller ange en lane eller roll"
                     " som finns (bpmn/lanes.json)."),
    (re.compile(r"^candidate group '(.+)' read as the lane '(.+)'"),
     lambda m, w, n: f"{w} görs av lanen {_quoted(m[2])} (från gruppen {_quoted(m[1])})."),
    (re.compile(r"^candidate groups (.+) name several lanes"),
     lambda m, w, n: f"{w} anger flera grupper ({m[1]}). Ange en grupp, eller lägg uppgiften i en lane."),
    (re.compile(r"^candidate users (.+): name one user"),
     lambda m, w, n: f"{w} anger flera användare ({m[1]}). Ange en användare (assignee) eller en grupp."),
    (re.compile(r"^assignee '(.+)' read as the Python expression (.+)$"),
     lambda m, w, n: f"{w} tilldelas {_quoted(m[1])}, översatt till Python: {m[2]}"),
    (re.compile(r"^assignee '(.+)' is not an expression"),
     lambda m, w, n: f"Tilldelningen {_quoted(m[1])} i {w} går inte att läsa. Uttryck skrivs i Python,"
                     " t.ex. ett användarnamn inom citattecken eller en variabel."),
    (re.compile(r"^user task form generated from its camunda:formField \((.+)\)"),
     lambda m, w, n: f"Formuläret för {w} skapades från dess camunda:formField ({m[1]})."),
    (re.compile(r"^user task form a confirm form .* replaces the form '(.+)'"),
     lambda m, w, n: f"Formuläret {_quoted(m[1])} i {w} kan inte användas här: uppgiften får ett"
                     " bekräftelseformulär med en valfri kommentar. Välj ett eget formulär under Egenskaper."),
    (re.compile(r"^user task form has no form: a confirm form"),
     lambda m, w, n: f"{w} har inget formulär: den får ett bekräftelseformulär med en valfri kommentar."),
    (re.compile(r"^a camunda:formField has no id"),
     lambda m, w, n: f"Ett formulärfält (camunda:formField) i {w} saknar id. Ge varje fält ett id."),
    (re.compile(r"^data store '(.+)' ignored"),
     lambda m, w, n: f"Datalagret {_quoted(m[1])} används inte: processen sparar sina uppgifter i ärendet."),
    (re.compile(r"^condition on the flow to (\S+): '(.+)' translated to the Python expression '(.+)'$"),
     lambda m, w, n: f"Villkoret {m[2]} på flödet till {_quoted(n.get(m[1], m[1]))} skrivs i Python som {m[3]}."),
    (re.compile(r"^condition (?:on the flow to (\S+)|of \S+): '(.+)' is JUEL/FEEL"),
     lambda m, w, n: f"Villkoret {m[2]} på flödet till {_quoted(n.get(m[1] or '', m[1] or ''))} går inte att"
                     " översätta. Uttryck skrivs i Python, t.ex. beslut == 'bifall' and belopp > 5."),
    (re.compile(r"^condition of (\S+): '(.+)' translated to the Python expression '(.+)'$"),
     lambda m, w, n: f"Villkoret {m[2]} i {w} skrivs i Python som {m[3]}."),
    (re.compile(r"^lane (['\"])(.+)\1 maps to no role"),
     lambda m, w, n: f"Lanen {_quoted(m[2])} motsvarar ingen roll. Välj vilka roller som arbetar i lanen"
                     " (i redigeraren, eller fältet lanes när diagrammet driftsätts)."),
    (re.compile(r"^lane (['\"])(.+)\1: give a non-empty list"),
     lambda m, w, n: f"Välj minst en roll för lanen {_quoted(m[2])}."),
    (re.compile(r"^lane (['\"])(.+)\1: unknown role key\(s\) (.+?); the roles are"),
     lambda m, w, n: f"Lanen {_quoted(m[2])} anger rollen {m[3]}, som inte finns. Välj bland rollerna i listan."),
    (re.compile(r"^lane (['\"])(.+)\1 given in lanes is drawn in no diagram"),
     lambda m, w, n: f"Lanen {_quoted(m[2])} finns inte i något diagram, så valet av roller för den används inte."),
    (re.compile(r"^lanes is not valid JSON"),
     lambda m, w, n: "Fältet lanes är inte giltig JSON. Skicka ett objekt: lanens namn → lista med roller."),
    (re.compile(r"^lanes must be a JSON object"),
     lambda m, w, n: "Fältet lanes ska vara ett objekt: lanens namn → lista med roller."),
    (re.compile(r"^a lane name is 1 to 100 characters"),
     lambda m, w, n: "En lanes namn ska vara 1–100 tecken och inte börja med $."),
    (re.compile(r"^user task has no form"),
     lambda m, w, n: f"{w} har inget formulär. Välj ett formulär för uppgiften under Egenskaper."),
    (re.compile(r"^form file '(.+)' is missing"),
     lambda m, w, n: f"Formuläret {_quoted(m[1])} som {w} använder finns inte."),
    (re.compile(r"^service task \S+ runs as an external task on topic '(.+?)'"),
     lambda m, w, n: f"{w} är en tjänsteuppgift: den utförs av ett externt program som hämtar uppgifter med"
                     f" ämnet {_quoted(m[1])} (externa uppgifter). Ärendet väntar tills programmet är klart."),
    (re.compile(r"^a service task needs a topic"),
     lambda m, w, n: f"{w} är en tjänsteuppgift utan ämne. Ange camunda:topic (eller en operator)."),
    (re.compile(r"^service task parameter (\w+): "),
     lambda m, w, n: f"Parametern {_quoted(m[1])} i {w} är inget giltigt uttryck."),
    (re.compile(r"^business rule task names no decision"),
     lambda m, w, n: f"{w} är en affärsregeluppgift (DMN) men anger inget beslut. Ange id för ett beslut"
                     " (decision) i en .dmn-fil."),
    (re.compile(r"^business rule task calls the decision '(.+?)', which no \.dmn file"),
     lambda m, w, n: f"{w} använder beslutet {_quoted(m[1])}, som inte finns i någon .dmn-fil i uppladdningen."
                     " Ladda upp beslutstabellen tillsammans med diagrammet."),
    (re.compile(r"^the call activity calls the deployed process '(.+?)', version (\d+)"),
     lambda m, w, n: f"{w} anropar den driftsatta processen {_quoted(m[1])}, version {m[2]}. Den här versionen"
                     " använder den tills du driftsätter igen."),
    (re.compile(r"^the call activity calls the deployed process '(.+?)', which cannot be read"),
     lambda m, w, n: f"{w} anropar den driftsatta processen {_quoted(m[1])}, men den går inte att läsa ihop med"
                     " uppladdningen: ett process- eller beslutsid finns i båda. Byt namn på det i uppladdningen."),
    (re.compile(r"^the call activity calls the process '(.+?)'"),
     lambda m, w, n: f"{w} anropar processen {_quoted(m[1])}, som varken finns i uppladdningen eller är"
                     " driftsatt. Ladda upp dess diagram tillsammans med det här, eller driftsätt den först."),
    (re.compile(r"^not a DMN document"), lambda m, w, n: "Filen är inte en DMN-beslutstabell (dmn:definitions)."),
    (re.compile(r"^a DMN file must hold exactly one decision; this one holds (\d+)"),
     lambda m, w, n: f"En .dmn-fil ska innehålla exakt ett beslut; den här innehåller {m[1]}."
                     " Lägg varje beslut i en egen fil."),
    (re.compile(r"^the decision id '(.+?)' is also used in (.+?):"),
     lambda m, w, n: f"Beslutet {_quoted(m[1])} finns också i {m[2]}. Ge varje beslut ett eget id."),
    (re.compile(r"^the decision has no id"), lambda m, w, n: "Beslutet saknar id. Ge det ett id."),
    (re.compile(r"^the decision is not a decision table"),
     lambda m, w, n: "Beslutet är ingen beslutstabell. Bara beslutstabeller stöds."),
    (re.compile(r"^the hit policy (\S+) is not supported"),
     lambda m, w, n: f"Träffpolicyn {m[1]} stöds inte. Använd UNIQUE, FIRST, ANY eller COLLECT."),
    (re.compile(r"^COLLECT with aggregation"),
     lambda m, w, n: "COLLECT med summering stöds inte. Samla listan och summera i en skriptuppgift."),
    (re.compile(r"^(?:rule (\d+), )?(?:input|output)(?: column)? '(.+?)': .*?\(DMN expressions are Python; the"
                r" (?:entry|expression) is (.+)\)$"),
     lambda m, w, n: (f"Regel {m[1]}, kolumnen" if m[1] else "Kolumnen") + f" {_quoted(m[2])}: uttrycket {m[3]}"
                     " går inte att använda. Uttryck i beslutstabeller skrivs i Python, t.ex. < 18 eller \"akut\"."),
    (re.compile(r"^input column '(.+?)' has no expression"),
     lambda m, w, n: f"Kolumnen {_quoted(m[1])} saknar uttryck. Ange variabeln som kolumnen läser."),
    (re.compile(r"^an output column has neither name nor label"),
     lambda m, w, n: "En utdatakolumn saknar namn. Ange variabeln den sätter."),
    (re.compile(r"^rule (\d+) has (\d+) input and (\d+) output entries"),
     lambda m, w, n: f"Regel {m[1]} har fel antal celler: en per kolumn behövs."),
    (re.compile(r"^the decision table cannot be read"),
     lambda m, w, n: "Beslutstabellen går inte att läsa. Kontrollera att varje regel har en cell per kolumn och"
                     " att varje utdata är ett Python-uttryck."),
    (re.compile(r"^data stores are not supported: remove the data store '(.+?)'"),
     lambda m, w, n: f"Datalager stöds inte. Ta bort datalagret {_quoted(m[1])}."),
    (re.compile(r"^condition on the flow to (\S+): .*?(?:\(expressions are Python; the expression is (.+)\))?$"),
     lambda m, w, n: f"Villkoret {m[2] + ' ' if m[2] else ''}på flödet till {_quoted(n.get(m[1], m[1]))} går inte"
                     " att använda. Uttryck skrivs i Python, t.ex. beslut == 'bifall'."),
    (re.compile(r"^timer: "), lambda m, w, n: _timer_fix(w)),
    (re.compile(r"^(script|prescript|postscript): "),
     lambda m, w, n: f"Skriptet i {w} innehåller något som inte är tillåtet."),
    (re.compile(r"^completion condition: "),
     lambda m, w, n: f"Slutvillkoret i {w} går inte att använda."),
    (re.compile(r"^property (\w+): "),
     lambda m, w, n: f"Egenskapen {_quoted(m[1])} i {w} är inget giltigt uttryck."),
    (re.compile(r"^property due"),
     lambda m, w, n: f"Tidsfristen i {w} går inte att använda."),
    (re.compile(r"^process id must be a simple name"),
     lambda m, w, n: "Processens id får bara innehålla bokstäver, siffror och _ . - (inga mellanslag eller å, ä, ö)."),
    (re.compile(r"^no executable process"),
     lambda m, w, n: "Filen har ingen körbar process. Markera processen som körbar (isExecutable=\"true\")."),
    (re.compile(r"^no BPMN file in the upload"), lambda m, w, n: "Inget diagram (.bpmn) skickades."),
    (re.compile(r"^unsupported file type"),
     lambda m, w, n: "Filen är varken ett diagram (.bpmn), en beslutstabell (.dmn) eller ett formulär (.json)."),
    (re.compile(r"^not a BPMN 2\.0 document"), lambda m, w, n: "Filen är inte ett BPMN 2.0-diagram."),
    (re.compile(r"^line (\d+): .*\(the engine reads it anyway\)$", re.S),
     lambda m, w, n: f"{w} avviker från BPMN-standarden på rad {m[1]}, men kan köras ändå."),
    (re.compile(r"^line (\d+): "),
     lambda m, w, n: f"{w} följer inte BPMN-standarden på rad {m[1]}. Rätta det i ritverktyget."),
    (re.compile(r"^a data association \((\w+)\) refers to no data object"),
     lambda m, w, n: f"En dataassociation i {w} pekar inte på något dataobjekt i processen. Rita dataobjektet"
                     " eller ta bort associationen."),
    (re.compile(r"^A multiinstance task must specify a cardinality or a loop input"),
     lambda m, w, n: f"{w} upprepas (multi-instance) utan att ange hur många gånger. Ange ett antal"
                     " (loopCardinality) eller listan att gå igenom (loopDataInputRef);"
                     " camunda:collection läses inte."),
    (re.compile(r"^Exactly one start event is required in a SubWorkflow"),
     lambda m, w, n: f"Delprocessen {w} måste ha exakt en startpunkt. Rita en startpunkt i den."),
    (re.compile(r"^the engine cannot read this diagram"),
     lambda m, w, n: "Diagrammet kunde inte läsas. Oftast hänvisar något till ett meddelande, en signal,"
                     " ett fel eller en process som inte finns i uppladdningen."),
    (re.compile(r"^not well-formed XML at line (\d+)(?:, column (\d+))?: (.+)$", re.S),
     lambda m, w, n: f"Filen är inte giltig XML (rad {m[1]}{', kolumn ' + m[2] if m[2] else ''}): {_syntax_sv(m[3])}"),
    (re.compile(r"^(not well-formed XML|not an XML document|unreadable XML|DOCTYPE|XML nested)"),
     lambda m, w, n: "Filen är inte giltig XML."),
    (re.compile(r"^sequence flow '(.+?)' has no (sourceRef|targetRef)"),
     lambda m, w, n: f"Flödet {_quoted(n.get(m[1], m[1]))} saknar {'start' if m[2] == 'sourceRef' else 'slut'}"
                     f" ({m[2]}). Dra flödet {'från' if m[2] == 'sourceRef' else 'till'} ett element i diagrammet."),
    (re.compile(r"^sequence flow '(.+?)' (leaves from|leads to) '(.+?)', which is no element"),
     lambda m, w, n: f"Flödet {_quoted(n.get(m[1], m[1]))} {'går från' if m[2] == 'leaves from' else 'leder till'}"
                     f" {_quoted(m[3])}, som inte finns i diagrammet. Koppla det till ett element som finns, eller"
                     " ta bort flödet."),
    (re.compile(r"^a sequence flow leads to '(.+?)', which is no element"),
     lambda m, w, n: f"Ett flöde från {w} leder till {_quoted(m[1])}, som inte finns i processen. Koppla det till"
                     " ett element som finns."),
    (re.compile(r"^a flow out of this exclusive gateway has no condition"),
     lambda m, w, n: f"Flödet {w} ut från en gateway har inget villkor och är inte standardflödet. Ge flödet"
                     " ett villkor (Python) eller gör det till gatewayens standardflöde."),
    (re.compile(r"^the script task has no script"),
     lambda m, w, n: f"Skriptuppgiften {w} saknar skript. Skriv skriptet (Python) eller gör den till en vanlig"
                     " uppgift."),
    (re.compile(r"^the process has no start event"), lambda m, w, n: "Processen saknar startpunkt. Rita en."),
    (re.compile(r"^the subprocess has no end event"),
     lambda m, w, n: f"Delprocessen {w} saknar slutpunkt. Rita en i den."),
    (re.compile(r"^the event refers to the (message|signal|error|escalation) '(.+?)', which the diagram does not"),
     lambda m, w, n: f"{w} hänvisar till {_KINDS_SV[m[1]]} {_quoted(m[2])}, som inte finns i diagrammet. Lägg"
                     f" till det eller välj ett som finns."),
    (re.compile(r"^the engine cannot read this element"),
     lambda m, w, n: f"{w} kunde inte läsas. Oftast hänvisar det till ett meddelande, en signal, ett fel eller"
                     " en process som inte finns i uppladdningen."),
    (re.compile(r"^a message event refers to the message '(.+?)', which the diagram does not define"),
     lambda m, w, n: f"{w} väntar på meddelandet {_quoted(m[1])}, som inte finns i diagrammet. Lägg till"
                     " meddelandet eller välj ett som finns."),
    (re.compile(r"^an? (message|signal|error|escalation|correlation) definition has no id"),
     lambda m, w, n: f"En definition ({m[1]}) saknar id. Ge den ett id."),
    (re.compile(r"^an event refers to something that is not an? (\w+)"),
     lambda m, w, n: f"{w} hänvisar till något som inte är en {m[1]}. Välj en som finns i diagrammet."),
    (re.compile(r"^the process id '(.+?)' is used twice"),
     lambda m, w, n: f"Process-id:t {_quoted(m[1])} används två gånger i uppladdningen. Ge varje process ett"
                     " eget id."),
    (re.compile(r"^the conditional event has no condition"),
     lambda m, w, n: f"Villkorshändelsen {w} saknar villkor. Skriv ett (Python)."),
    (re.compile(r"^the call activity names no process"),
     lambda m, w, n: f"Anropet {w} anger ingen process (calledElement). Ange processen som ska anropas."),
    (re.compile(r"^the timer has no time the engine reads"), lambda m, w, n: _timer_fix(w)),
    (re.compile(r"^this kind of element is not supported"),
     lambda m, w, n: f"{w} är en sorts element som inte stöds. Använd en användaruppgift, manuell uppgift eller"
                     " skriptuppgift."),
    (re.compile(r"^a cancel event works only in a transaction"),
     lambda m, w, n: f"Avbrottshändelsen {w} fungerar bara i en transaktion. Använd en felhändelse eller rita en"
                     " transaktion."),
    (re.compile(r"^the loop has neither loopMaximum nor loopCondition"),
     lambda m, w, n: f"Loopen {w} saknar både loopMaximum och loopCondition. Ange ett av dem."),
    (re.compile(r"^several sequence flows leave this element"),
     lambda m, w, n: f"Flera flöden går ut från {w}. Rita ett flöde ut och dela vägen med en gateway."),
    (re.compile(r"^the file is not UTF-8 encoded"), lambda m, w, n: "Filen är inte sparad som UTF-8."),
    (re.compile(r"^the diagram could not be read"),
     lambda m, w, n: "Diagrammet kunde inte läsas. Oftast hänvisar något till ett meddelande, en signal,"
                     " ett fel eller en process som inte finns."),
    (re.compile(r"^not valid JSON at line (\d+), column (\d+)"),
     lambda m, w, n: f"Formulärfilen är inte giltig JSON (rad {m[1]}, kolumn {m[2]}). Rätta raden, t.ex. ett"
                     " kommatecken eller citattecken som saknas."),
    (re.compile(r"^not valid JSON"), lambda m, w, n: "Formulärfilen är inte giltig JSON."),
    (re.compile(r"^not a valid JSON Schema at (?!the top:)(.+?): "),
     lambda m, w, n: f"Formulärfilen är inte ett giltigt JSON Schema: fel vid {m[1]}."),
    (re.compile(r"^not a valid JSON Schema"), lambda m, w, n: "Formulärfilen är inte ett giltigt JSON Schema."),
    (re.compile(r"^a form schema must describe an object"),
     lambda m, w, n: "Ett formulär måste beskriva ett objekt (\"type\": \"object\")."),
    (re.compile(r"^(field '(.+?)'|the form): the pattern"),
     lambda m, w, n: f"Mönstret (pattern) för {_quoted(m[2]) if m[2] else 'formuläret'} kan göra tjänsten långsam."
                     " Förenkla det."),
)


def explain(problem: Mapping[str, str | None], names: Mapping[str, str]) -> dict[str, str | None]:
    """A problem as the API reports it, with ``text``: what is wrong and what to do, in plain Swedish,
    naming the element by its drawn name (``element_name``). ``message`` keeps the technical detail."""
    message = problem.get("message") or ""
    element = problem.get("element")
    element_name = names.get(element) if element else None
    if element_name:
        where = _quoted(element_name)
    elif element:
        where = f"elementet med id {_quoted(element)}"
    else:
        where = "diagrammet"
    text = None
    for pattern, say in _EXPLAINED:
        match = pattern.search(message)
        if match:
            text = say(match, where, names)
            break
    if text is None:
        text = f"{where} går inte att driftsätta så här. Teknisk detalj: {message}"
    text = text[:1].upper() + text[1:]
    if problem.get("file") and not element:
        text = f"{problem['file']}: {text}"
    unmapped = _UNMAPPED.match(message)
    lane = {"lane": unmapped[2]} if unmapped else {}  # the editor offers to choose its roles
    return {**problem, "element_name": element_name, "text": text, **lane}


_UNMAPPED = re.compile(r"^(?:lane|candidate group) (['\"])(.+)\1 maps to no role")


_PARSED: OrderedDict[str, Bundle] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 32


def _parse(files: Mapping[str, bytes], lanes: LaneRoles, existing: Mapping[str, Mapping[str, object]],
           starters: list[str], deployed: Mapping[str, Deployed] | None = None) -> Bundle:
    """Parse a bundle, remembering results by content: the same files parse to the same specs.

    Deploying the same routine tree again (every node at start-up, every test) then costs a hash
    instead of a parse. The key covers everything the result depends on.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    digest.update(json.dumps(lanes.mapping, sort_keys=True).encode())
    digest.update(json.dumps(existing, sort_keys=True, default=str).encode())
    digest.update(json.dumps(starters).encode())
    digest.update(json.dumps({k: d.version for k, d in (deployed or {}).items()}, sort_keys=True).encode())
    key = digest.hexdigest()
    with _PARSED_LOCK:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            return _PARSED[key]
    bundle = parse_bundle(files, lanes, existing_forms=existing, default_starters=starters, deployed=deployed)
    with _PARSED_LOCK:
        _PARSED[key] = bundle
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return bundle


def _line(problem: Mapping[str, str | None]) -> str:
    where = problem["file"] or "upload"
    if problem.get("element"):
        where += f" [{problem['element']}]"
    return f"{where}: {problem['message']}"


def _latest_forms(session) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version")).group_by(
        ProcessDefinition.key).subquery()
    rows = session.scalars(select(ProcessDefinition).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version)))
    return {row.key: dict(row.forms) for row in rows}


def latest_deployed(session) -> dict[str, Deployed]:  # type: ignore[no-untyped-def]
    """The latest version of each process, for call activities of an upload that call a deployed process."""
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version")).group_by(
        ProcessDefinition.key).subquery()
    rows = session.scalars(select(ProcessDefinition).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.version)))
    return {row.key: Deployed(row.version, dict(row.bpmn_files), dict(row.forms)) for row in rows}


def read_tree(bpmn_dir: Path, forms_dir: Path) -> dict[str, bytes]:
    """The files of a routine tree (``bpmn/*.bpmn``, ``bpmn/*.dmn`` + ``forms/<key>/*.json``) as an upload."""
    files: dict[str, bytes] = {}
    for path in sorted([*bpmn_dir.glob("*.bpmn"), *bpmn_dir.glob("*.dmn")]):
        files[path.name] = path.read_bytes()
    if forms_dir.is_dir():
        for path in sorted(forms_dir.glob("*/*.json")):
            files[f"{path.parent.name}/{path.name}"] = path.read_bytes()
    return files


def deploy_tree(services: Services, actor: Actor, bpmn_dir: Path, forms_dir: Path) -> list[ProcessDefinition]:
    """Deploy each routine of a tree on its own, so one broken diagram does not block the others."""
    files = read_tree(bpmn_dir, forms_dir)
    deployed: list[ProcessDefinition] = []
    mains = sorted(name for name in files if name.endswith(".bpmn") and "__" not in name)
    problems: list[dict[str, str | None]] = []
    for main in mains:
        key = main[: -len(".bpmn")]
        bundle = {n: c for n, c in files.items()  # decision tables: <key>__<decision>.dmn, or shared <name>.dmn
                  if n == main or n.startswith(f"{key}__") or n.startswith(f"{key}/")
                  or (n.endswith(".dmn") and "__" not in n)}
        try:
            deployed.extend(deploy(services, actor, bundle))
        except Invalid as err:
            problems.extend(err.extra.get("problems", []))
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in {bpmn_dir}", extra={"problems": problems,
                      "deployed": [f"{d.key}:{d.version}" for d in deployed]},
                      errors={"files": [_line(p) for p in problems]})
    return deployed
