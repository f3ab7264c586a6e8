"""Lokal vid renovering av BmSS (``bmss_lokal_vid_renovering``), told through the HTTP API.

R2's side rule as a routine of its own (ROUTINES.md R2): a BmSS needs other premises because of a
renovation, so its unit manager (Enhetschef BmSS) asks the district's utvecklingsledare förmedling
BmSS for a vacant BmSS flat. No individual case is involved: nobody but the BmSS side starts it, and
an R2 case no longer asks about renovations.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.clock import SYSTEM_CLOCK

from ..conftest import Harness
from .story import Cast, People, complete, deploy_routines, read, start_instance, tasks
from .test_akut_verkstallighet import KEY as R2
from .test_akut_verkstallighet import MONDAY_MORNING, NO_COLLABORATION, START, through_criteria
from .test_akut_verkstallighet import Staff as R2Staff

KEY = "bmss_lokal_vid_renovering"

PEOPLE: People = {
    "berit.bmss": (("enhetschef_bmss",), ("Nordost",)),
    "ulrika.formedling": (("utvecklingsledare_formedling_bmss",), ("Nordost",)),
    "urban.formedling.hisingen": (("utvecklingsledare_formedling_bmss",), ("Hisingen",)),
    "sara.soc": (("socialsekreterare",), ("Nordost",)),
}
REQUEST = {"stadsomrade": "Nordost", "bmss_enhet": "BmSS Solrosen", "renovering_fran": "2027-01-10",
           "renovering_till": "2027-03-01", "antal_lagenheter": 1}


@pytest.fixture
def cast(harness: Harness) -> Iterator[Cast]:
    deploy_routines(harness, KEY)
    SYSTEM_CLOCK.set(MONDAY_MORNING)
    yield Cast(harness, PEOPLE)


def test_the_bmss_manager_starts_it_and_the_districts_utvecklingsledare_answers(cast: Cast) -> None:
    berit, ulrika = cast["berit.bmss"], cast["ulrika.formedling"]
    # only the BmSS side starts it: a socialsekreterare has no such routine to start
    refused = cast["sara.soc"].post("/api/v1/instances", json={"process": KEY, "data": REQUEST})
    assert refused.status_code == 403, refused.text
    instance = start_instance(berit, KEY, REQUEST)
    assert instance["state"] != "completed"

    # the question reaches the district's utvecklingsledare; Hisingen's does not see it
    assert tasks(cast["urban.formedling.hisingen"], instance) == []
    [question] = tasks(ulrika, instance)
    assert question["name"] == "besvara_forfragan_ledig_lagenhet"
    assert question["lane"] == "Utvecklingsledare förmedling BmSS" and question["district"] == "Nordost"
    assert question["title"] == "Finns ledig BmSS-lägenhet? Förfrågan vid renovering (Nordost)"
    ulrika.ok("POST", f"/api/v1/tasks/{question['id']}/claim")
    no_flat_named = ulrika.post(f"/api/v1/tasks/{question['id']}/complete",
                                json={"data": {"ledig_bmss_lagenhet_finns": True}})
    assert no_flat_named.status_code == 422 and "anvisad_lagenhet" in no_flat_named.json()["errors"]
    done = complete(ulrika, question, {"ledig_bmss_lagenhet_finns": True, "anvisad_lagenhet": "BmSS Vitsippan lgh 3"})
    assert done["instance"]["state"] == "completed" and done["instance"]["outcome"] == "ledig_lagenhet_anvisad"
    # the manager who asked reads the answer
    assert read(berit, instance)["data"]["anvisad_lagenhet"] == "BmSS Vitsippan lgh 3"


def test_an_r2_case_no_longer_asks_about_renovations(harness: Harness) -> None:
    deploy_routines(harness, R2)
    SYSTEM_CLOCK.set(MONDAY_MORNING)
    s = R2Staff(harness)
    instance = through_criteria(s, START)
    assess = tasks(s["vc.korttid"], instance)[0]
    s["vc.korttid"].ok("POST", f"/api/v1/tasks/{assess['id']}/claim")
    asked = s["vc.korttid"].post(f"/api/v1/tasks/{assess['id']}/complete", json={
        "data": {"sammankallande": "vc.korttid", **NO_COLLABORATION, "bmss_renovering": True}})
    assert asked.status_code == 422 and "bmss_renovering" in asked.text
    complete(s["vc.korttid"], assess, {"sammankallande": "vc.korttid", **NO_COLLABORATION})
    assert [t["name"] for t in tasks(s["vc.korttid"], instance)] == ["verkstall"]
    assert tasks(s["berit.bmss"], instance) == []
