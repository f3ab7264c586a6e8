"""R5c Recurring collaboration meetings end to end through the HTTP API (``bpmn/samverkansmoten.bpmn``).

The enhetschef lays out a year of one standing structure's meetings; each meeting is invited
(the invitation task opens on a timer and is due by a deadline counted from the meeting day — FSG at
least one week before), held (attendees, notes) and its minutes adjusted and published, and the
year's tally of held against required meetings is kept in the case. Meeting days follow the
business calendar: never a weekend or a Swedish holiday.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime

import pytest

from processes.calendar import default_calendar
from service.clock import STOCKHOLM, SYSTEM_CLOCK
from tests.conftest import start_harness
from tests.routines import story as steps
from tests.routines.story import Cast, deploy_routines
from tests.web.test_pages_http import signed_in_session

KEY = "samverkansmoten"
T0 = datetime(2030, 12, 2, 9, 0, tzinfo=STOCKHOLM)
KALLA = {"kallelse_skickad": "2030-12-29", "kallade": ["Alla medarbetare i enheten"],
         "dagordning": "1. Arbetsmiljö 2. Verksamheten 3. Övrigt"}
HALL = {"motet_hallet": "ja", "narvarande": ["Enhetschefen", "Tolv medarbetare"], "anteckningar": "Arbetsmiljön."}
JUSTERA = {"justerat_av": "Pia Ägare", "justerat_datum": "2031-01-08", "publicerat": True}


@pytest.fixture(scope="module")
def cast(module_database_url: str) -> Iterator[Cast]:
    h = start_harness(module_database_url)
    try:
        deploy_routines(h, KEY)
        SYSTEM_CLOCK.set(T0)
        c = Cast(h)
        c.user("pia", "enhetschef_myndighet", districts=("Hisingen",))
        c.user("sara", "socialsekreterare", districts=("Hisingen",))
        c.user("adam", "admin")
        h.user("clara", "chef", districts=("Hisingen",))  # reads the monitor page, signed in with a password
        yield c
    finally:
        SYSTEM_CLOCK.reset()
        h.server.stop()


def fire(cast: Cast, instance: str, name: str) -> None:
    """The timer ``name`` comes due (the clock moves to it) and the admin console fires it."""
    [timer] = steps.timers(cast["adam"], instance, name)
    due = datetime.fromisoformat(timer["due_at"])
    if due > SYSTEM_CLOCK.now():
        SYSTEM_CLOCK.set(due)
    steps.fire(cast["adam"], timer)


def test_a_year_of_apt_has_at_least_nine_meetings_none_on_a_holiday(cast: Cast) -> None:
    SYSTEM_CLOCK.set(T0)
    case = steps.start_instance(cast["pia"], KEY, {"struktur": "apt", "ar": 2031})
    data = steps.read(cast["pia"], case)["data"]
    days = [date.fromisoformat(d) for d in data["motesdatum"]]
    assert len(days) >= 9 and len(set(days)) == len(days)
    assert all(d.year == 2031 and default_calendar().is_working_day(d) for d in days)
    # 2031-01-06 (trettondedag jul) is a Monday: the first Tuesday of January is a working day anyway
    assert days[0] == date(2031, 1, 7) and date(2031, 12, 24) not in days
    assert data["sammanstallning"] == {"struktur": "Arbetsplatsträff (APT)", "ar": 2031, "genomforda": 0,
                                       "kravda": 9, "uppfyllt": False}
    # a bad year is refused in Swedish and starts nothing
    bad = cast["pia"].post("/api/v1/instances", json={"process": KEY, "data": {"struktur": "apt", "ar": 1999}})
    assert bad.status_code == 422 and "ar" in bad.json()["errors"]

    # the first meeting: invited in time, held, the minutes adjusted and published
    fire(cast, case["id"], "dags_att_kalla")
    kalla = steps.the_task(cast["pia"], case, "kalla_till_motet")
    assert kalla["title"] == "Kalla till mötet – Arbetsplatsträff (APT) 2031-01-07"
    assert datetime.fromisoformat(kalla["due_at"]) == datetime(2030, 12, 31, 9, 0, tzinfo=STOCKHOLM)
    steps.complete(cast["pia"], kalla, KALLA)
    [motet] = steps.timers(cast["adam"], case, "motesdagen")
    assert datetime.fromisoformat(motet["due_at"]) == datetime(2031, 1, 7, 9, 0, tzinfo=STOCKHOLM)
    fire(cast, case["id"], "motesdagen")
    steps.do(cast["pia"], case, "hall_motet", HALL)
    steps.do(cast["pia"], case, "justera_protokoll", JUSTERA)
    data = steps.read(cast["pia"], case)["data"]
    assert data["genomforda"] == 1 and data["moten"] == [{"datum": "2031-01-07", "hallet": True}]
    # … and the next one's invitation waits for its own day
    [next_invite] = steps.timers(cast["adam"], case, "dags_att_kalla")
    assert datetime.fromisoformat(next_invite["due_at"]) == datetime(2031, 1, 21, 8, 0, tzinfo=STOCKHOLM)
    # the case is the enhetschef's: a socialsekreterare does not see it
    assert cast["sara"].get(f"/api/v1/instances/{case['id']}").status_code == 404
    # the monitor shows the chef the year's tally: held against required
    http, _ = signed_in_session(cast.h, "clara")
    page = http.get(f"{cast.h.url}/oversikt/{KEY}", timeout=30).text
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\w+)</td></tr>',
                      page.split('data-testid="tally-table"')[1].split("</table>")[0])
    assert ("Arbetsplatsträff (APT)", "2031", "1", "9", "Nej") in rows


def test_fsg_is_invited_at_least_a_week_before_and_every_other_week_is_kept(cast: Cast) -> None:
    SYSTEM_CLOCK.set(T0)
    fsg = steps.start_instance(cast["pia"], KEY, {"struktur": "fsg", "ar": 2031})
    fire(cast, fsg["id"], "dags_att_kalla")
    kalla = steps.the_task(cast["pia"], fsg, "kalla_till_motet")
    meeting = datetime(2031, 2, 19, 13, 0, tzinfo=STOCKHOLM)
    assert (meeting - datetime.fromisoformat(kalla["due_at"])).days >= 7
    ledning = steps.read(cast["pia"], steps.start_instance(cast["pia"], KEY,
                                                           {"struktur": "forvaltningsledning", "ar": 2031}))
    days = [date.fromisoformat(d) for d in ledning["data"]["motesdatum"]]
    assert len(days) >= 26 and all(default_calendar().is_working_day(d) for d in days)
    assert all(12 <= (b - a).days <= 16 for a, b in zip(days, days[1:], strict=False))  # every other week
    dialog = steps.read(cast["pia"], steps.start_instance(cast["pia"], KEY, {"struktur": "uppdragsdialog", "ar": 2031}))
    assert len(dialog["data"]["motesdatum"]) >= 1
