"""The case page as each person sees it: the messages they may send as forms, and the operator's
break-glass read — through the real pages, signed in with the session cookie and CSRF token."""

from __future__ import annotations

import re

from tests.conftest import Harness
from tests.test_lifecycle import start

from .test_pages_http import signed_in_session

PERSONNUMMER = "19121212-1212"
START = {"arende": f"Kalle Anka {PERSONNUMMER}", "handlaggare": "sara", "stadsomrade": "Nordost"}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]


def _waiting_case(h: Harness) -> str:
    """A core_demo case approved by sara, now waiting for the message "klart"."""
    case = start(h, data=START)  # case reference 2026-SOC-0042
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"instance": case["id"]})["items"]
    h.as_("sara").ok("POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant", "antal": 2}})
    return str(case["id"])


def test_a_message_is_sent_from_the_case_page_by_the_roles_allowed(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    case = _waiting_case(h)
    # Mottag in the same district holds no task of the case: it does not exist for her
    mona, _ = signed_in_session(h, "mona")
    page = mona.get(f"{h.url}/arenden/{case}")
    assert page.status_code == 404 and PERSONNUMMER not in page.text

    sara, _ = signed_in_session(h, "sara")
    page = sara.get(f"{h.url}/arenden/{case}").text
    assert "Skicka: Klart" in page and 'name="datum"' in page
    # an answer the message's form refuses comes back with the error beside the field; the case keeps waiting
    sent = sara.post(f"{h.url}/arenden/{case}/meddelanden/klart", data={"csrf_token": _csrf(page), "datum": "x" * 41})
    assert sent.status_code == 422 and "Formuläret har fel" in sent.text
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{case}")["waits_for"] == ["klart"]
    # nor can she send it anything
    mona_token = _csrf(mona.get(f"{h.url}/inkorg").text)
    assert mona.post(f"{h.url}/arenden/{case}/meddelanden/klart",
                     data={"csrf_token": mona_token, "datum": "x"}).status_code == 404
    sent = sara.post(f"{h.url}/arenden/{case}/meddelanden/klart", data={"csrf_token": _csrf(page), "datum": "i dag"})
    assert sent.status_code == 200 and "Meddelandet skickades." in sent.text
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{case}")["state"] == "completed"
    # the timeline names the message by its form's title ("Klart"), not by its key ("klart")
    done = sara.get(f"{h.url}/arenden/{case}").text
    assert "<strong>Meddelande togs emot</strong>: Klart" in done


def test_an_operator_reads_a_case_whole_only_with_a_reason_shown_on_the_case(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("adam", "admin")
    case = _waiting_case(h)
    adam, _ = signed_in_session(h, "adam")
    page = adam.get(f"{h.url}/arenden/{case}").text
    assert "Nödåtkomst" in page
    for secret in (PERSONNUMMER, "Kalle", "2026-SOC-0042"):
        assert secret not in page, secret
    # no reason: nothing is shown
    refused = adam.post(f"{h.url}/arenden/{case}/nodatkomst", data={"csrf_token": _csrf(page), "reason": " "})
    assert "Ange ett skäl" in refused.text and PERSONNUMMER not in refused.text
    whole = adam.post(f"{h.url}/arenden/{case}/nodatkomst",
                      data={"csrf_token": _csrf(page), "reason": "Felsökning INC-7"})
    assert whole.status_code == 200 and PERSONNUMMER in whole.text and "2026-SOC-0042" in whole.text
    # the case worker sees who read it and why
    sara, _ = signed_in_session(h, "sara")
    seen = sara.get(f"{h.url}/arenden/{case}").text
    assert "Nödåtkomst: ärendet lästes av en driftansvarig" in seen and "Felsökning INC-7" in seen
    # the break-glass page is the operator's only: a case worker posting to it gets 403
    assert sara.post(f"{h.url}/arenden/{case}/nodatkomst",
                     data={"csrf_token": _csrf(seen), "reason": "x"}).status_code == 403


def test_a_paused_case_says_so_and_keeps_what_was_typed(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("clara", "chef")
    case = start(h, data=START)
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"instance": case["id"]})["items"]
    h.as_("clara").ok("POST", f"/api/v1/instances/{case['id']}/suspend", json={"reason": "Väntar på beslut"})
    sara, _ = signed_in_session(h, "sara")
    inbox = sara.get(f"{h.url}/inkorg").text
    assert "Pausat" in inbox
    page = sara.get(f"{h.url}/uppgifter/{task['id']}").text
    assert "Ärendet är pausat" in page
    answer = sara.post(f"{h.url}/uppgifter/{task['id']}",
                       data={"csrf_token": _csrf(page), "beslut": "godkant", "antal": "7"})
    assert answer.status_code == 409 and "Det du fyllt i finns kvar" in answer.text
    assert 'value="7"' in answer.text  # the typed answer is still in the form
    assert h.as_("sara").ok("GET", f"/api/v1/tasks/{task['id']}")["status"] == "open"


def test_terminating_a_case_needs_a_real_reason_and_a_confirmation(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("clara", "chef")
    case = start(h, data=START)
    clara, _ = signed_in_session(h, "clara")
    page = clara.get(f"{h.url}/arenden/{case['id']}").text
    for refused in ({"reason": "x", "confirm": "ja"}, {"reason": "Brukaren har avlidit"}):
        answer = clara.post(f"{h.url}/arenden/{case['id']}/status",
                            data={"csrf_token": _csrf(page), "action": "terminate", **refused})
        assert "Ärendet avbröts inte" in answer.text
        assert h.as_("clara").ok("GET", f"/api/v1/instances/{case['id']}")["state"] == "running"
    done = clara.post(f"{h.url}/arenden/{case['id']}/status",
                      data={"csrf_token": _csrf(page), "action": "terminate", "reason": "Brukaren har avlidit",
                            "confirm": "ja"})
    assert "Ärendet är avbrutet." in done.text
    assert h.as_("clara").ok("GET", f"/api/v1/instances/{case['id']}")["state"] == "terminated"


def test_firing_a_timer_by_hand_asks_first(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("adam", "admin")
    case = start(h, data=START)
    [timer] = h.as_("adam").ok("GET", "/api/v1/timers", params={"instance": case["id"]})["items"]
    adam, _ = signed_in_session(h, "adam")
    page = adam.get(f"{h.url}/arenden/{case['id']}").text
    # a post without the confirmation only leads to the question
    asked = adam.post(f"{h.url}/arenden/{case['id']}/timers/{timer['id']}", data={"csrf_token": _csrf(page)})
    assert "Lös ut tidsgränsen nu?" in asked.text
    assert h.as_("adam").ok("GET", "/api/v1/timers", params={"instance": case["id"]})["total"] == 1
    fired = adam.post(f"{h.url}/arenden/{case['id']}/timers/{timer['id']}",
                      data={"csrf_token": _csrf(asked.text), "confirm": "ja"})
    assert "Tidsgränsen löstes ut." in fired.text
    assert h.as_("adam").ok("GET", "/api/v1/timers", params={"instance": case["id"]})["total"] == 0


def test_the_operations_console_finds_failed_cases_timers_and_a_reported_reference(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("adam", "admin")
    h.user("ivar", "auditor")
    case = start(h, data=START)  # case reference 2026-SOC-0042
    adam, _ = signed_in_session(h, "adam")
    console = adam.get(f"{h.url}/")
    assert console.url.endswith("/drift") and "Väntande tidsgränser" in console.text
    assert "1 timme utan svar" in console.text  # core_demo's pending timer
    assert PERSONNUMMER not in console.text and "2026-SOC-0042" not in console.text
    # someone reports a problem with case 2026-SOC-0042: the operator finds it without reading it
    found = adam.get(f"{h.url}/drift", params={"arende": "2026-SOC-0042"})
    assert f"/arenden/{case['id']}" in found.text and PERSONNUMMER not in found.text
    assert "Inget ärende" in adam.get(f"{h.url}/drift", params={"arende": "2026-SOC-9999"}).text
    # the auditor lands on the log, which shows that search as a read of the case; case workers may not open it
    ivar, _ = signed_in_session(h, "ivar")
    log = ivar.get(f"{h.url}/")
    assert log.url.endswith("/logg") and "case_read" in log.text
    sara, _ = signed_in_session(h, "sara")
    assert sara.get(f"{h.url}/drift").status_code == 403 and sara.get(f"{h.url}/logg").status_code == 403


def test_a_failed_case_is_listed_de_identified_and_retried_from_the_console(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("adam", "admin")
    case = h.as_("sara").ok("POST", "/api/v1/instances", 201, json={"process": "error_demo", "data": {"antal": 0}})
    assert case["state"] == "error"
    adam, _ = signed_in_session(h, "adam")
    console = adam.get(f"{h.url}/drift").text
    # the failing step is named; the message (which may quote case data) is not
    assert "rakna: fel i steget" in console and "division" not in console
    without_reason = adam.post(f"{h.url}/drift/arenden/{case['id']}/forsok-igen", data={"csrf_token": _csrf(console)})
    assert "Ange ett skäl" in without_reason.text
    retried = adam.post(f"{h.url}/drift/arenden/{case['id']}/forsok-igen",
                        data={"csrf_token": _csrf(console), "reason": "Nytt försök efter driftstörning"})
    assert "Steget kördes om." in retried.text
    history = h.as_("sara").ok("GET", f"/api/v1/instances/{case['id']}")["history"]
    assert [e["action"] for e in history].count("instance_retried") == 1


def test_the_inbox_and_case_list_tell_cases_apart_and_filter_them(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare", districts=("Nordost", "Hisingen"))
    for number, district in ((1, "Nordost"), (2, "Hisingen"), (3, "Nordost")):
        h.as_("sara").ok("POST", "/api/v1/instances", 201, json={
            "process": "core_demo", "case_ref": f"2026-SOC-000{number}",
            "data": {"arende": f"Ärende {number}", "handlaggare": "sara", "stadsomrade": district}})
    sara, _ = signed_in_session(h, "sara")
    inbox = sara.get(f"{h.url}/inkorg").text
    assert all(f"2026-SOC-000{n}" in inbox for n in (1, 2, 3))
    only_hisingen = sara.get(f"{h.url}/inkorg", params={"stadsomrade": "Hisingen"}).text
    assert "2026-SOC-0002" in only_hisingen and "2026-SOC-0001" not in only_hisingen
    found = sara.get(f"{h.url}/inkorg", params={"sok": "SOC-0003"}).text
    assert "2026-SOC-0003" in found and "2026-SOC-0001" not in found
    # the case list: by reference, by district, oldest first, with the step each case waits at
    cases = sara.get(f"{h.url}/arenden", params={"sortera": "forst_startade"}).text
    assert cases.index("2026-SOC-0001") < cases.index("2026-SOC-0003") and "Granska" in cases
    assert "2026-SOC-0001" not in sara.get(f"{h.url}/arenden", params={"stadsomrade": "Hisingen"}).text
    by_reference = sara.get(f"{h.url}/arenden", params={"arende": "2026-SOC-0002"}).text
    assert "2026-SOC-0002" in by_reference and "2026-SOC-0003" not in by_reference


def test_the_monitor_drills_down_from_a_step_to_the_cases_waiting_there(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("clara", "chef")
    for number in (1, 2):
        h.as_("sara").ok("POST", "/api/v1/instances", 201, json={
            "process": "core_demo", "case_ref": f"2026-SOC-010{number}",
            "data": {"arende": f"Ärende {number}", "handlaggare": "sara", "stadsomrade": "Nordost"}})
    clara, _ = signed_in_session(h, "clara")
    monitor = clara.get(f"{h.url}/oversikt/core_demo").text
    assert ">0.0<" not in monitor and "(h)" not in monitor  # durations read as people say them
    assert "steg=granska" in monitor  # the step's row leads to its cases
    waiting = clara.get(f"{h.url}/arenden", params={"rutin": "core_demo", "steg": "granska"}).text
    assert "2026-SOC-0101" in waiting and "2026-SOC-0102" in waiting and "väntar i steget Granska" in waiting
    assert "2026-SOC-0101" not in clara.get(f"{h.url}/arenden", params={"steg": "eskalera"}).text
    late = clara.get(f"{h.url}/arenden", params={"rutin": "core_demo", "forsenade": "1"}).text
    assert "2026-SOC-0101" not in late  # nothing is overdue yet
