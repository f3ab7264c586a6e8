"""The inbox's lists (``service/access/inbox.py``): everyone gets their own tasks, narrowed as asked.

The inbox's statements are built once per shape and shared by everyone of that shape, each request's
values going in as parameters: so these ask as several people of one shape in turn, narrow by every
filter the API and the inbox page offer, and search with the characters LIKE treats specially.
"""

from __future__ import annotations

from service.clock import SYSTEM_CLOCK

from .conftest import Harness
from .test_lifecycle import START, open_tasks, start
from .web.test_pages_http import signed_in_session


def test_people_of_one_shape_each_get_their_own_tasks(harness: Harness) -> None:
    h = harness
    for name in ("sara", "sam"):
        h.user(name, "socialsekreterare")
    theirs = {name: start(h, name, dict(START, handlaggare=name))["id"] for name in ("sara", "sam")}
    for name, other in (("sara", "sam"), ("sam", "sara"), ("sara", "sam")):  # one after the other, twice
        [task] = open_tasks(h, name, assigned="me")
        assert task["instance_id"] == theirs[name]
        assert [t["instance_id"] for t in open_tasks(h, name, instance=theirs[name])] == [theirs[name]]
        assert open_tasks(h, name, instance=theirs[other]) == []


def test_the_api_narrows_by_routine_and_by_what_is_overdue(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara", process="core_demo")
    assert task["instance_id"] == instance["id"] and task["due_at"] is not None
    assert open_tasks(h, "sara", process="") == open_tasks(h, "sara", process="no_such_routine") == []
    assert open_tasks(h, "sara", overdue="true") == []  # due within the hour
    SYSTEM_CLOCK.advance(minutes=61)  # nobody fires the timer: the task stays, overdue
    assert [t["id"] for t in open_tasks(h, "sara", overdue="true")] == [task["id"]]
    assert [t["id"] for t in open_tasks(h, "sara", overdue="true", process="core_demo")] == [task["id"]]


def test_the_inbox_page_searches_title_and_case_reference_without_wildcards(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    http, _ = signed_in_session(h, "sara")

    def found(text: str) -> bool:
        page = http.get(f"{h.url}/inkorg", params={"sok": text})
        assert page.status_code == 200
        return instance["id"] in page.text or task["id"] in page.text

    assert found(task["title"][:6]) and found(task["title"][:6].upper())  # in the title, in any case
    assert found("2026-SOC-0042")  # the case reference, for a case worker
    assert not found("2026-SOC-0043")
    assert not found("%") and not found("_")  # no wildcards: a literal % or _, which neither holds
