"""The staff pages over plain HTTP: CSRF on forms and on the API's session calls, the vendor
allow-list, the English catalog, and reading forms back into JSON.
"""

from __future__ import annotations

import re

import requests
from werkzeug.datastructures import MultiDict

from service.config import ROOT
from service.web.formdata import parse_form, read_submission
from service.web.formview import conditions
from tests.conftest import DEFAULT_PASSWORD, Harness


def signed_in_session(h: Harness, username: str) -> tuple[requests.Session, str]:
    """A browser-like session signed in through the form; returns it with its CSRF token."""
    http = requests.Session()
    page = http.get(f"{h.url}/logga-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    answer = http.post(f"{h.url}/logga-in", data={"username": username, "password": DEFAULT_PASSWORD,
                                                  "csrf_token": token})
    assert not answer.url.endswith("/logga-in"), "signing in failed"
    fresh = re.search(r'name="csrf-token" content="([^"]+)"', answer.text)[1]  # type: ignore[index]
    assert fresh != token  # signing in rotates the token
    return http, fresh


def test_forms_and_session_api_calls_need_the_csrf_token(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    http, token = signed_in_session(h, "sara")
    # a form posted from elsewhere (no token) is refused and changes nothing
    forged = http.post(f"{h.url}/starta/core_demo", data={"arende": "x", "handlaggare": "sara"})
    assert forged.status_code == 400 and "Formuläret har gått ut" in forged.text
    start = {"process": "core_demo", "data": {"arende": "Stopp", "handlaggare": "sara", "stadsomrade": "Nordost"}}
    # the API accepts the session cookie for reads, but a state change also needs X-CSRF-Token
    assert http.get(f"{h.url}/api/v1/tasks").status_code == 200
    refused = http.post(f"{h.url}/api/v1/instances", json=start)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert h.as_("sara").ok("GET", "/api/v1/instances")["total"] == 0
    created = http.post(f"{h.url}/api/v1/instances", json=start, headers={"X-CSRF-Token": token})
    assert created.status_code == 201
    # bearer-token clients are unaffected
    assert h.as_("sara").ok("GET", "/api/v1/instances")["total"] == 1


def test_only_allow_listed_npm_files_are_served(sqlite_harness: Harness) -> None:
    base = f"{sqlite_harness.url}/static/vendor"
    viewer = requests.get(f"{base}/bpmn-js/dist/bpmn-navigated-viewer.production.min.js", timeout=30)
    assert viewer.status_code == 200 and "javascript" in viewer.headers["Content-Type"]
    assert requests.get(f"{base}/bpmn-js/dist/assets/bpmn-font/font/bpmn.woff2", timeout=30).status_code == 200
    for path in ("bpmn-js/package.json", "axe-core/axe.min.js", "../package.json", "bpmn-js/dist/../package.json"):
        assert requests.get(f"{base}/{path}", timeout=30).status_code == 404, path


def test_every_page_text_has_an_english_translation() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    # the same extraction pybabel runs with service/web/translations/babel.cfg
    found = extract_from_dir(ROOT / "service/web", [("**.py", "python"), ("**/templates/**.html", "jinja2")],
                             {"**/templates/**.html": {"extensions": "jinja2.ext.do"}},
                             keywords={"_": None, "gettext": None})
    wanted = {message for _file, _line, message, _comments, _context in found}
    with open(ROOT / "service/web/translations/en/LC_MESSAGES/messages.po", "rb") as handle:
        english = {m.id: m.string for m in read_po(handle) if m.id}
    assert len(wanted) > 200 and not sorted(w for w in wanted if not english.get(w))


SCHEMA = {
    "type": "object", "required": ["samtycke_lamnat", "mottagare"],
    "properties": {
        "samtycke_lamnat": {"type": "string", "enum": ["ja", "nej"]},
        "antal": {"type": "integer"},
        "mottagare": {"type": "array", "items": {"type": "string", "enum": ["region", "eku"]}},
        "enheter": {"type": "array", "items": {"type": "string"}},
        "klar": {"type": "boolean"},
        "tid": {"type": "string", "format": "date-time"},
        "rader": {"type": "array", "items": {"type": "object", "properties": {"namn": {"type": "string"}}}},
        "samtycke": {"type": "object", "properties": {"typ": {"type": "string"}}},
    },
    "allOf": [{"if": {"properties": {"samtycke_lamnat": {"const": "ja"}}, "required": ["samtycke_lamnat"]},
               "then": {"required": ["samtycke"]}}],
}


def test_a_submitted_form_reads_back_as_the_json_its_schema_describes() -> None:
    form = MultiDict([("samtycke_lamnat", "ja"), ("antal", "tre"), ("mottagare.__present", "1"),
                      ("enheter", "Hemtjänst Nordost\n\n Vårdcentralen "), ("klar", "false"),
                      ("tid", "2026-12-01T09:30"), ("rader.__rows", "2"), ("rader.0.namn", ""),
                      ("rader.1.namn", "Kim"), ("samtycke.typ", "")])
    data = parse_form(SCHEMA, {}, form)
    # what cannot be converted stays as typed (the validator names it); blanks are left out,
    # except a required list of choices left empty, which is an answer: none
    assert data == {"samtycke_lamnat": "ja", "antal": "tre", "mottagare": [],
                    "enheter": ["Hemtjänst Nordost", "Vårdcentralen"], "klar": False,
                    "tid": "2026-12-01T09:30:00+01:00", "rader": [{"namn": "Kim"}]}
    # "Lägg till" re-renders with one more row instead of submitting
    values, is_row_action = read_submission(SCHEMA, {}, MultiDict([*form.items(multi=True), ("_action", "add:rader")]))
    assert is_row_action and values["rader"] == [{}, {"namn": "Kim"}, {}]
    # a field required only when samtycke_lamnat is "ja" is shown only then
    assert conditions(SCHEMA) == {"samtycke": [{"samtycke_lamnat": ["ja"]}]}


def test_due_dates_count_working_time() -> None:
    from datetime import datetime

    from service.clock import STOCKHOLM
    from service.web.worktime import due_in_working_time, working_seconds

    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=STOCKHOLM)
    monday_9am = datetime(2026, 11, 30, 9, 0, tzinfo=STOCKHOLM)
    # Friday 16–17 and Monday 08–09: two working hours, not 65 hours
    assert working_seconds(friday_4pm, monday_9am) == 2 * 3600
    due = due_in_working_time(monday_9am, friday_4pm)
    assert due is not None and not due.overdue and due.text == "Om 2 arbetstimmar"
    # seen on Tuesday at noon it is a working day late (Christmas Eve would not count)
    late = due_in_working_time(monday_9am, datetime(2026, 12, 1, 12, 0, tzinfo=STOCKHOLM))
    assert late is not None and late.overdue and late.text == "Försenad 1 arbetsdag"
    holiday = working_seconds(datetime(2026, 12, 23, 17, 0, tzinfo=STOCKHOLM),
                              datetime(2026, 12, 28, 8, 0, tzinfo=STOCKHOLM))
    assert holiday == 0  # Christmas Eve, Christmas Day, Boxing Day and a weekend


def test_what_a_datetime_local_input_sends_passes_a_date_time_field() -> None:
    # a browser's datetime-local input submits "2026-12-07T08:30": no seconds, no offset
    from service.forms import validate_form

    schema = {"type": "object", "properties": {"trader_i_kraft": {"type": "string", "format": "date-time"}}}
    data = parse_form(schema, {}, MultiDict([("trader_i_kraft", "2026-12-07T08:30")]))
    assert data == {"trader_i_kraft": "2026-12-07T08:30:00+01:00"}
    validate_form(schema, data)  # raises if the service would refuse it
    summer = parse_form(schema, {}, MultiDict([("trader_i_kraft", "2026-06-07T08:30")]))
    assert summer == {"trader_i_kraft": "2026-06-07T08:30:00+02:00"}


def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_the_api(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = requests.get(f"{h.url}/finns-inte", headers=browser, timeout=30)
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "Hittades inte" in page.text
    api = requests.get(f"{h.url}/api/v1/finns-inte", headers=browser, timeout=30)
    assert api.status_code == 404 and api.headers["Content-Type"] == "application/problem+json"
    wrong_method = requests.delete(f"{h.url}/api/v1/tasks", timeout=30)
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]


def test_socialjouren_sees_deadlines_in_clock_time() -> None:
    from datetime import datetime

    from service.clock import STOCKHOLM
    from service.web.worktime import due_for

    saturday_night = datetime(2026, 12, 5, 22, 0, tzinfo=STOCKHOLM)
    midnight = datetime(2026, 12, 6, 0, 0, tzinfo=STOCKHOLM)
    due = due_for(midnight, saturday_night, ["socialjouren"], "working")
    assert due is not None and due.text == "Om 2 timmar" and not due.overdue  # not "Om 0 min arbetstid"


def test_a_deadline_is_told_as_it_is_counted() -> None:
    from datetime import datetime

    from service.clock import STOCKHOLM
    from service.web.worktime import due_for

    saturday_night = datetime(2026, 12, 5, 22, 0, tzinfo=STOCKHOLM)
    midnight = datetime(2026, 12, 6, 0, 0, tzinfo=STOCKHOLM)
    # R1's acknowledgement runs by the clock: an office role sees clock time too, never "0 min arbetstid"
    clock = due_for(midnight, saturday_night, ["mottag"])
    assert clock is not None and clock.text == "Om 2 timmar"
    assert due_for(midnight, saturday_night, ["mottag"], "clock") == clock
    # R3's "within 1 working day" is told in working time to the office
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=STOCKHOLM)
    monday_9am = datetime(2026, 11, 30, 9, 0, tzinfo=STOCKHOLM)
    working = due_for(monday_9am, friday_4pm, ["mottagningsfunktionen"], "working")
    assert working is not None and working.text == "Om 2 arbetstimmar"
    # a month's calendar deadline (R2's evaluation) reads in days
    later = due_for(datetime(2027, 1, 4, 22, 0, tzinfo=STOCKHOLM), saturday_night, ["socialsekreterare"])
    assert later is not None and later.text == "Om 30 dygn"


def test_a_task_page_says_each_rule_and_the_case_page_names_the_end(sqlite_harness: Harness) -> None:
    from tests.test_lifecycle import start

    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    h.user("mona", "mottag")
    case = start(h, data={"arende": "Kalle Anka 19121212-1212", "handlaggare": "sara", "stadsomrade": "Nordost"})
    [task] = h.as_("sara").ok("GET", "/api/v1/tasks", params={"instance": case["id"]})["items"]
    sara, token = signed_in_session(h, "sara")
    # a forgotten choice and letters in a number field: each message says what the field takes
    refused = sara.post(f"{h.url}/uppgifter/{task['id']}", data={"csrf_token": token, "antal": "tre"})
    assert refused.status_code == 422
    assert "Välj ett av alternativen: Godkänt eller Avvisat." in refused.text
    assert "Skriv ett heltal med siffror, till exempel 3." in refused.text
    assert h.as_("sara").ok("GET", f"/api/v1/instances/{case['id']}")["state"] == "running"  # nothing changed
    done = sara.post(f"{h.url}/uppgifter/{task['id']}", data={"csrf_token": token, "beslut": "avvisat",
                                                              "kommentar": "Saknar underlag"})
    assert done.status_code == 200
    # the case page names the end reached as the diagram does ("Avvisat"), never its id ("avvisad")
    page = sara.get(f"{h.url}/arenden/{case['id']}").text
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', page, re.S)[1]  # type: ignore[index]
    assert "Ärendet avslutades" in timeline and "Avvisat" in timeline and "avvisad" not in timeline
    assert re.search(r"\d{4}-\d{2}-\d{2}T", timeline) is None  # no ISO moments where people read
    # Mottag holds no task of the case: it does not exist for her, and nothing of it reaches her
    mona, _ = signed_in_session(h, "mona")
    hidden = mona.get(f"{h.url}/arenden/{case['id']}")
    assert hidden.status_code == 404 and "19121212-1212" not in hidden.text and "Kalle Anka" not in hidden.text


def test_monitor_charts_have_round_scales_in_the_unit_their_longest_bar_needs() -> None:
    from flask import Flask

    from service.web import i18n
    from service.web.monitor.charts import count_chart, duration_chart

    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context():
        counts = count_chart("Ärenden per status", "Antal ärenden", [("Pågår", 7, "bar-running"), ("Fel", 0, "")])
        assert counts.top == 8 and [t for t, _ in counts.ticks] == [0, 2, 4, 6, 8]  # whole steps
        assert count_chart("x", "y", [("a", 2, "")]).ticks == [(0, "0"), (1, "1"), (2, "2")]
        minutes = duration_chart("Median per steg", [("A", 0.25, ""), ("B", 0.5, "")])
        assert minutes.axis == "Tid i minuter" and minutes.top == 30 and [b.text for b in minutes.bars] == [
            "15 min", "30 min"]
        days = duration_chart("Median per steg", [("A", 80.0, "")])
        assert days.axis == "Tid i dygn" and days.bars[0].text == "3,3 dygn" and days.top == 4
        # dates and moments in case data read as people write them, in Stockholm time
        assert i18n.when("2026-12-07") == "7 dec. 2026"
        assert i18n.when("2026-12-07T07:30:00+00:00") == "7 dec. 2026 08:30"
