"""Organisations and people (API.md): who belongs where, whom a picker offers, and the operator's
break-glass read of a case — through the real HTTP API and the CLI."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from service.directory import add_organisation
from service.models import Event
from service.operations.users import create_user

from .conftest import DEFAULT_PASSWORD, Harness

PERSONNUMMER = "19121212-1212"
START = {"arende": f"Kalle Anka {PERSONNUMMER}, hemtjänst stoppad", "handlaggare": "sara", "stadsomrade": "Nordost"}


def _people(h: Harness) -> None:
    add_organisation(h.services, "omsorg_ab", kind="utforare", name="Omsorg AB")
    add_organisation(h.services, "vard_ab", kind="utforare", name="Vård AB")
    add_organisation(h.services, "regionen", kind="region", name="Västra regionen")
    for username, roles, organisation, name in [
        ("sara", ["socialsekreterare"], "myndighet", "Sara Berg"),
        ("adam", ["admin"], "myndighet", "Adam Drift"),
        ("ulla", ["enhetschef_utforare"], "omsorg_ab", "Ulla Berg"),
        ("olle", ["enhetschef_utforare"], "omsorg_ab", "Olle Ek"),
        ("vera", ["enhetschef_utforare"], "vard_ab", "Vera Bergström"),
        ("rut", ["fast_vardkontakt"], "regionen", "Rut Bergqvist"),
    ]:
        create_user(h.services, username, roles=roles, districts=["Nordost"], password=DEFAULT_PASSWORD,
                    organisation=organisation, display_name=name)
        h.login(username)


def test_organisations_and_the_people_a_picker_may_offer(harness: Harness) -> None:
    h = harness
    _people(h)
    assert h.anonymous.get("/api/v1/organisations").status_code == 401
    listed = h.as_("ulla").ok("GET", "/api/v1/organisations")
    assert {(o["key"], o["kind"]) for o in listed["items"]} >= {
        ("myndighet", "myndighet"), ("omsorg_ab", "utforare"), ("vard_ab", "utforare"), ("regionen", "region")}
    assert h.as_("ulla").ok("GET", "/api/v1/me")["organisation"] == "omsorg_ab"
    assert h.as_("sara").ok("GET", "/api/v1/me")["organisation"] == "myndighet"

    # the authority's case worker searches everyone by display name, and can narrow by role
    found = h.as_("sara").ok("GET", "/api/v1/users", params={"q": "berg"})["items"]
    assert {p["username"] for p in found} == {"sara", "ulla", "vera", "rut"}
    assert all(set(p) == {"username", "display_name", "roles", "districts", "organisation"} for p in found)
    chefs = h.as_("sara").ok("GET", "/api/v1/users", params={"q": "berg", "role": "enhetschef_utforare"})["items"]
    assert {p["username"] for p in chefs} == {"ulla", "vera"}
    # a provider's unit manager picks only among their own colleagues: not a competitor, not the region
    assert {p["username"] for p in h.as_("ulla").ok("GET", "/api/v1/users", params={"q": "berg"})["items"]} == {"ulla"}
    assert {p["username"] for p in h.as_("ulla").ok("GET", "/api/v1/users")["items"]} == {"ulla", "olle"}
    # bad filters are refused, not ignored
    assert h.as_("sara").get("/api/v1/users", params={"role": "kung"}).status_code == 422
    assert h.as_("sara").get("/api/v1/users", params={"q": "x" * 101}).status_code == 422


def test_a_user_of_an_unknown_organisation_is_refused(harness: Harness) -> None:
    import pytest

    from service.errors import Invalid

    with pytest.raises(Invalid) as refused:
        create_user(harness.services, "nils", roles=["utforare"], organisation="finns_inte")
    assert "organisation" in (refused.value.errors or {})


def test_the_start_form_is_part_of_the_process(harness: Harness) -> None:
    h = harness
    _people(h)
    process = h.as_("sara").ok("GET", "/api/v1/processes/core_demo")
    assert process["start_form"]["schema"]["title"] == "Nytt ärende"
    assert process["start_form"]["schema"]["additionalProperties"] is False
    assert h.as_("sara").ok("GET", "/api/v1/processes/loop_demo")["start_form"] is None


def test_admin_sees_a_case_de_identified_until_a_stated_reason(harness: Harness) -> None:
    h = harness
    _people(h)
    case = h.as_("sara").ok("POST", "/api/v1/instances", 201,
                            json={"process": "core_demo", "data": START, "case_ref": "2026-SOC-0042"})
    path = f"/api/v1/instances/{case['id']}"

    # the operator's view: closed values only, no case reference, no names
    plain = h.as_("adam").get(path)
    assert plain.status_code == 200
    for secret in (PERSONNUMMER, "Kalle", "2026-SOC-0042", '"sara"'):
        assert secret not in plain.text, secret
    assert plain.json()["data"] == {"stadsomrade": "Nordost"}
    # a provider and the region are not told the case exists
    for outsider in ("ulla", "vera", "rut"):
        response = h.as_(outsider).get(path)
        assert response.status_code == 404 and PERSONNUMMER not in response.text

    # break-glass: a reason is required; with one, the case is read whole and the read is on the case
    assert h.as_("adam").post(f"{path}/break-glass", json={"reason": "  "}).status_code == 422
    assert h.as_("sara").post(f"{path}/break-glass", json={"reason": "nyfiken"}).status_code == 403
    whole = h.as_("adam").ok("POST", f"{path}/break-glass", json={"reason": "Felsökning av ärende 42 (INC-7)"})
    assert whole["case_ref"] == "2026-SOC-0042" and PERSONNUMMER in whole["data"]["arende"]
    seen = [e for e in h.as_("sara").ok("GET", path)["history"] if e["action"] == "break_glass"]
    assert seen and seen[0]["actor"] == "adam" and seen[0]["detail"]["reason"] == "Felsökning av ärende 42 (INC-7)"

    # every read is in the audit log, the operator's plain read included
    with h.services.db.read() as db:
        reads = [(e.actor, e.action) for e in db.scalars(select(Event).where(Event.instance_id == case["id"]))]
    assert ("adam", "case_read") in reads and ("adam", "break_glass") in reads and ("sara", "case_read") in reads


def test_cli_registers_organisations_and_their_people(tmp_path, sqlite_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from service.cli import main

    monkeypatch.setenv("SAMVERKAN_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    added = runner.invoke(main, ["organisations", "add", "omsorg_ab", "--kind", "utforare", "--name", "Omsorg AB"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(main, ["organisations", "add", "omsorg_ab", "--kind", "utforare", "--name", "Omsorg AB"])
    assert again.exit_code != 0
    bad = runner.invoke(main, ["organisations", "add", "x", "--kind", "kung", "--name", "X"])
    assert bad.exit_code != 0
    user = runner.invoke(main, ["users", "add", "ulla", "--role", "enhetschef_utforare", "--district", "Nordost",
                                "--organisation", "omsorg_ab", "--display-name", "Ulla Berg"])
    assert user.exit_code == 0, user.output
    unknown = runner.invoke(main, ["users", "add", "nils", "--role", "utforare", "--organisation", "finns_inte"])
    assert unknown.exit_code != 0


def test_a_person_field_offers_names_and_refuses_an_unknown_or_unpickable_username(harness: Harness) -> None:
    import pytest

    from service.actor import Actor
    from service.directory import with_choices
    from service.errors import Invalid
    from service.forms import validate_form

    h = harness
    _people(h)
    schema = {"type": "object", "additionalProperties": False, "properties": {
        "ansvarig": {"type": "string", "title": "Ansvarig", "x-person": {"roles": ["socialsekreterare"]},
                     "pattern": "^[^\\s]+$"},
        "utforare": {"type": "string", "title": "Utförare", "x-organisation": "utforare"}}}
    sara = Actor("sara", frozenset({"socialsekreterare"}), frozenset({"Nordost"}))
    ulla = Actor("ulla", frozenset({"enhetschef_utforare"}), frozenset({"Nordost"}), organisation="omsorg_ab",
                 organisation_kind="utforare")
    with h.services.db.read() as db:
        for_sara = with_choices(db, sara, schema)
        for_ulla = with_choices(db, ulla, schema)
    assert for_sara is not None and for_ulla is not None
    person = for_sara["properties"]["ansvarig"]
    assert person["enum"] == ["sara"] and person["x-enum-labels"] == ["Sara Berg (Nordost)"]
    assert for_sara["properties"]["utforare"]["x-enum-labels"] == ["Omsorg AB", "Vård AB"]
    validate_form(for_sara, {"ansvarig": "sara", "utforare": "vard_ab"})
    for wrong in ({"ansvarig": "Sara Berg"}, {"ansvarig": "ulla"}, {"utforare": "regionen"}):
        with pytest.raises(Invalid):
            validate_form(for_sara, wrong)
    # a provider picks among its own people only, and names only itself, never a competitor
    assert for_ulla["properties"]["ansvarig"]["enum"] == []
    assert for_ulla["properties"]["utforare"]["enum"] == ["omsorg_ab"]


def test_claiming_someone_elses_task_names_nobody(harness: Harness) -> None:
    h = harness
    _people(h)
    create_user(h.services, "kim", roles=["socialsekreterare"], districts=["Nordost"], password=DEFAULT_PASSWORD)
    create_user(h.services, "sven", roles=["socialsekreterare"], districts=["Hisingen"], password=DEFAULT_PASSWORD)
    for username in ("kim", "sven"):
        h.login(username)
    h.as_("sara").ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks")["items"]
    # a colleague in the lane and district learns it is taken, not by whom
    taken = h.as_("kim").post(f"/api/v1/tasks/{task['id']}/claim")
    assert taken.status_code == 409 and "sara" not in taken.text
    # anyone else is not told the task exists
    for stranger in ("sven", "ulla", "rut"):
        response = h.as_(stranger).post(f"/api/v1/tasks/{task['id']}/claim")
        assert response.status_code == 404 and "sara" not in response.text


def test_cli_deactivates_a_user_and_their_token_stops_at_once(harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from service.cli import main

    h = harness
    _people(h)
    assert h.as_("ulla").get("/api/v1/me").status_code == 200
    monkeypatch.setenv("SAMVERKAN_DATABASE_URL", h.services.config.database_url)
    runner = CliRunner()
    assert runner.invoke(main, ["users", "deactivate", "ulla"]).exit_code == 0
    assert h.as_("ulla").get("/api/v1/me").status_code == 401
    assert runner.invoke(main, ["users", "deactivate", "finns_inte"]).exit_code != 0
    changed = runner.invoke(main, ["users", "password", "olle"], input="ett-nytt-losenord\n")
    assert changed.exit_code == 0, changed.output
    assert h.as_("olle").get("/api/v1/me").status_code == 401  # the old token ended with the change
    assert h.login("olle", "ett-nytt-losenord").get("/api/v1/me").status_code == 200
