"""Managers and operators in a real browser: hand-over, language, suspend/resume, firing a timer,
the monitor with its counts, charts, heat overlay and CSV export.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from service.operations.instances import start_instance
from service.operations.tasks import complete_task
from tests.browser.conftest import Site, look
from tests.browser.journey import choose, press, type_text
from tests.browser.test_staff_pages import KEY, MEDDELA, START, UTFORARE, actor, started_at_meddela


def at_day_14_timer(site: Site) -> str:
    """An instance whose start is confirmed: it now waits for the day-14 timer."""
    instance_id = started_at_meddela(site)
    [meddela] = site.h.as_("moa").ok("GET", "/api/v1/tasks")["items"]
    complete_task(site.h.services, actor(site, "moa"), meddela["id"], MEDDELA)
    [bekrafta] = site.h.as_("bo").ok("GET", "/api/v1/tasks")["items"]
    complete_task(site.h.services, actor(site, "bo"), bekrafta["id"],
                  {"uppstart_bekraftad": True, "bekraftad_till": "Kim", "journal_myndighet_text": "Bekräftad",
                   "journal_myndighet_forfattare": "Bo"})
    return instance_id


def people(site: Site) -> None:
    site.h.user("anna", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    site.h.user("moa", "mottagningsfunktionen", districts=("Sydväst",))
    site.h.user("bo", "bistandshandlaggare", districts=("Sydväst",))


def test_hand_over_to_a_substitute_and_read_the_page_in_english(site: Site) -> None:
    people(site)
    site.h.user("kim", "enhetschef_utforare", districts=("Sydväst",), organisation=UTFORARE)
    started_at_meddela(site)  # one instance further on; a second waits at the first step:
    instance, changes = start_instance(site.h.services, actor(site, "anna"), KEY, START)
    [task] = changes.created_tasks
    page = site.sign_in("anna")
    page.goto(f"{site.url}/uppgifter/{task.id}")
    page.get_by_role("button", name="Ta uppgiften").click()
    # going on leave, she hands the task over, forgetting both the substitute and the reason: the
    # page opens at the errors (focused, so they are read out) and flags each field
    press(page, "Lämna över")
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Uppgiften lämnades inte över")
    expect(page.locator("#handover-username-error")).to_contain_text("Välj vem som tar över uppgiften")
    expect(page.locator("#handover-reason-error")).to_contain_text("Skriv varför du lämnar över uppgiften")
    expect(page.get_by_role("combobox", name="Ersättare")).to_have_attribute("aria-invalid", "true")
    look(page, "handover-errors")
    # to Kim, who holds the same role, with a reason
    choose(page, "Ersättare (obligatorisk)", "kim (Sydväst)")
    type_text(page, "Skäl (obligatorisk)", "Semester vecka 49")
    press(page, "Lämna över")
    expect(page.get_by_role("status")).to_contain_text("lämnades över till kim")
    kim = site.sign_in("kim")
    expect(kim.get_by_role("table", name="Uppgifter som är dina")).to_contain_text("Utöka insatser akut")
    kim.get_by_role("link", name="Utöka insatser akut").click()
    expect(kim.locator("ol.timeline")).to_contain_text("skäl: Semester vecka 49")
    # the language switch turns the pages English; the choice stays for the session
    kim.get_by_role("button", name="English").click()
    expect(kim.get_by_role("button", name="Complete the task")).to_be_visible()
    kim.get_by_role("navigation").get_by_role("link", name="Inbox").click()
    expect(kim.get_by_role("heading", name="My tasks")).to_be_visible()
    expect(kim.locator("html")).to_have_attribute("lang", "en")
    look(kim, "inbox-english")
    kim.get_by_role("button", name="Svenska").click()
    expect(kim.get_by_role("heading", name="Mina uppgifter")).to_be_visible()


def test_chef_suspends_and_resumes_and_admin_fires_the_day_14_timer(site: Site) -> None:
    people(site)
    instance_id = at_day_14_timer(site)
    chef = site.person("clara", "chef", districts=("Sydväst",))
    chef.goto(f"{site.url}/arenden/{instance_id}")
    expect(chef.get_by_role("table", name="Tidsgränser")).to_contain_text("Dag 14")
    # the manager pauses the case with a reason, and resumes it
    steer = chef.get_by_role("region", name="Styr ärendet")  # not the legal hold's reason
    type_text(chef, "Skäl (obligatorisk)", "Brukaren på sjukhus", within=steer, exact=True)
    chef.get_by_role("button", name="Pausa").click()
    expect(chef.get_by_test_id("instance-state")).to_have_text("Pausat")
    expect(chef.get_by_text("Skäl till senaste statusändring: Brukaren på sjukhus")).to_be_visible()
    look(chef, "instance-suspended")
    type_text(chef, "Skäl (obligatorisk)", "Hemma igen", within=steer, exact=True)
    chef.get_by_role("button", name="Återuppta").click()
    expect(chef.get_by_test_id("instance-state")).to_have_text("Väntar")
    expect(chef.get_by_role("link", name="Lös ut nu")).to_have_count(0)  # firing timers is the admin's
    # the administrator fires the day-14 timer, after a page that says what will happen
    admin = site.person("adam", "admin", districts=())
    admin.goto(f"{site.url}/arenden/{instance_id}")
    # the case also waits for the end of the agreement period ("14 dagar passerade"): she picks the step
    admin.get_by_role("link", name="Lös ut nu… Dag 14", exact=True).click()
    expect(admin.get_by_role("heading", name="Lös ut tidsgränsen nu?")).to_be_visible()
    admin.get_by_role("button", name="Lös ut nu").click()
    expect(admin.get_by_role("status")).to_contain_text("Tidsgränsen löstes ut")
    expect(admin.locator("ul.active-tasks")).to_contain_text("Uppföljning dag 14")
    expect(admin.locator("[data-diagram][data-ready=true]")).to_be_visible()
    expect(admin.locator('.djs-element.is-active[data-element-id="uppfoljning_dag_14"]')).to_have_count(1)
    look(admin, "instance-admin")
    # the admin has no case access: the client's name is not on the page
    expect(admin.get_by_text("Anna Andersson")).to_have_count(0)
    assert [t["name"] for t in site.h.as_("bo").ok("GET", "/api/v1/tasks")["items"]] == ["uppfoljning_dag_14"]


def test_monitor_counts_charts_heat_and_csv(site: Site) -> None:
    people(site)
    site.h.user("sven", "enhetschef_utforare", districts=("Hisingen",))
    # three cases in Sydväst: two wait at the first step, one has moved on and been confirmed
    for _ in range(2):
        start_instance(site.h.services, actor(site, "anna"), KEY, START)
    at_day_14_timer(site)
    # one in Hisingen, outside the manager's districts
    start_instance(site.h.services, actor(site, "sven"), KEY, {**START, "stadsomrade": "Hisingen"})
    chef = site.person("clara", "chef", districts=("Sydväst",))
    chef.get_by_role("link", name="Översikt").click()
    row = chef.locator(f'[data-testid=overview-table] tr[data-routine="{KEY}"]')
    expect(row.locator('[data-state="running"]')).to_have_text("2")
    expect(row.locator('[data-state="waiting"]')).to_have_text("1")
    expect(row.locator('[data-count="open"]')).to_have_text("2")
    look(chef, "monitor")
    row.get_by_role("link").click()
    expect(chef.get_by_test_id("lane-table")).to_contain_text("Enhetschef/samordnare utförare")
    expect(chef.get_by_test_id("waiting-table")).to_contain_text("Utöka akut")
    expect(chef.get_by_test_id("steps-table")).to_contain_text("Bekräfta uppstart")
    expect(chef.get_by_role("img", name="Median per steg")).to_be_visible()
    expect(chef.locator("svg.chart").first).to_contain_text("Antal ärenden")  # the scale says what it counts
    expect(chef.get_by_role("img", name="Median per steg")).to_contain_text("Tid i minuter")
    expect(chef.locator("[data-diagram][data-ready=true]")).to_be_visible()
    expect(chef.locator('.djs-element.heat-5[data-element-id="utoka_akut"]')).to_have_count(1)
    badge = chef.locator(".heat-badge")
    expect(badge).to_have_text("2 väntar")
    assert badge.bounding_box()["height"] >= 18  # readable at the diagram's opening size
    # the diagram opens readable, not shrunk to fit: zooming is the person's choice, by button
    zoom = chef.locator(".zoom-level")
    expect(zoom).to_have_text("85 %")
    chef.get_by_role("button", name="Zooma in").click()
    expect(zoom).to_have_text("106 %")
    chef.get_by_role("button", name="Visa hela").click()
    expect(zoom).not_to_have_text("106 %")
    look(chef, "monitor-routine")
    expect(chef.get_by_test_id("overdue-link")).to_have_attribute("href", re.compile("forsenade=1"))
    with chef.expect_download() as download:
        chef.get_by_role("link", name="Ladda ner öppna uppgifter (CSV)").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("id;arende_id;steg_id;steg;roll")
    assert len(lines) == 3 and all(";utoka_akut;Utöka akut;" in line for line in lines[1:])
    with chef.expect_download() as download:
        chef.get_by_role("link", name="Ladda ner ärenden (CSV)").click()
    instances = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert len(instances) == 4 and sum(";waiting;" in line for line in instances) == 1
    # staff without the chef role get no monitor
    staff = site.sign_in("anna")
    response = staff.goto(f"{site.url}/oversikt")
    assert response is not None and response.status == 403
    expect(staff.get_by_role("heading", name="Ingen behörighet")).to_be_visible()
    look(staff, "forbidden")


PHONE = {"width": 390, "height": 844}


def fits_the_phone(page: Page, name: str) -> None:
    """The page does not scroll sideways at 390 px (what it holds wraps or scrolls inside its own box)."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    look(page, f"phone-{name}")
    wide = page.evaluate("w => [...document.querySelectorAll('body *')]"
                         ".filter(e => e.getBoundingClientRect().right > w)"
                         ".slice(0, 5).map(e => e.tagName + '.' + e.className)", PHONE["width"])
    assert width <= PHONE["width"], f"{name} is {width} px wide at {PHONE['width']} px: {wide}"


def test_staff_and_monitor_pages_fit_a_phone(site: Site) -> None:
    people(site)
    at_day_14_timer(site)  # one case with history, timers and a diagram
    instance, changes = start_instance(site.h.services, actor(site, "anna"), KEY, START, case_ref="2026-SOC-0102")
    [task] = changes.created_tasks
    anna = site.sign_in("anna")
    anna.set_viewport_size(PHONE)
    anna.get_by_role("link", name="Inkorg").click()
    expect(anna.get_by_role("heading", name="Att ta i mina roller")).to_be_visible()
    fits_the_phone(anna, "inbox")
    anna.get_by_role("link", name="Ärenden").click()
    expect(anna.get_by_role("heading", name="Ärenden", level=1)).to_be_visible()
    fits_the_phone(anna, "instance-list")
    anna.goto(f"{site.url}/arenden/{instance.id}")
    expect(anna.locator("[data-diagram][data-ready=true]")).to_be_visible()
    fits_the_phone(anna, "instance")
    anna.goto(f"{site.url}/uppgifter/{task.id}")
    expect(anna.get_by_role("heading", name="Utöka insatser akut", level=1)).to_be_visible()
    fits_the_phone(anna, "task")
    chef = site.person("clara", "chef", districts=("Sydväst",))
    chef.set_viewport_size(PHONE)
    chef.goto(f"{site.url}/oversikt")
    fits_the_phone(chef, "monitor")
    chef.goto(f"{site.url}/oversikt/{KEY}")
    expect(chef.locator("[data-diagram][data-ready=true]")).to_be_visible()
    fits_the_phone(chef, "monitor-routine")
