"""The process owner moves running cases to a new version from the monitor, with the keyboard."""

from __future__ import annotations

from playwright.sync_api import expect

from service.operations.instances import start_instance
from tests.browser.conftest import Site, look
from tests.browser.journey import choose, press, tick, type_text
from tests.browser.test_staff_pages import actor
from tests.test_lifecycle import START
from tests.test_migration import FOLLOW_UP, renamed_review


def test_pick_a_version_see_the_dry_run_and_migrate(site: Site) -> None:
    site.h.user("sara", "socialsekreterare", districts=("Nordost",))
    paula = site.h.user("paula", "processagare", "chef", districts=("Nordost",))
    instance, _ = start_instance(site.h.services, actor(site, "sara"), "core_demo", START)
    for text in (FOLLOW_UP, renamed_review(FOLLOW_UP)):
        paula.ok("POST", "/api/v1/processes", 201, files=[("files", ("core_demo.bpmn", text.encode("utf-8")))])
    page = site.sign_in("paula")
    page.goto(f"{site.url}/oversikt/core_demo")
    page.get_by_role("link", name="Flytta pågående ärenden till en annan version").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flytta pågående ärenden")

    # version 3 renamed the review step: the dry run says why the case cannot move, and offers nothing
    choose(page, "Flytta till version", "Version 3")
    press(page, "Visa provkörning")
    table = page.get_by_test_id("dry-run")
    expect(table).to_contain_text("finns inte i version 3")
    expect(page.get_by_role("button", name="Flytta ärendena")).to_have_count(0)
    look(page, "migration-dry-run-refused")

    # with a mapping it can; moving needs the confirmation ticked
    type_text(page, "Koppling (valfri): gammalt_id = nytt_id, en per rad", "granska = granska_arende")
    press(page, "Visa provkörning")
    expect(table.get_by_role("cell", name="Ja", exact=True)).to_have_count(1)
    press(page, "Flytta ärendena")
    expect(page.get_by_test_id("migration-problem")).to_contain_text("Bekräfta")
    tick(page, "Jag vill flytta 1 ärenden till version 3. Det går inte att ångra.")
    press(page, "Flytta ärendena")
    expect(page.get_by_test_id("migration-done")).to_contain_text("1 ärenden flyttades till version 3")
    expect(page.get_by_test_id("dry-run")).to_have_count(0)  # none left on another version
    look(page, "migration-done")
    assert site.h.as_("sara").ok("GET", f"/api/v1/instances/{instance.id}")["version"] == 3
