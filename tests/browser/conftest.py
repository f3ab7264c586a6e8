"""Browser tests: Debian's Chromium driven headless by Playwright, against the real service.

One browser per test session (``browser``); each person gets a fresh browser context, signed in
through the sign-in page like anyone else. Every page a test visits goes through ``look``: a
screenshot under ``test-output/screenshots/<name>.png`` for review, and an axe-core scan that must
report no serious or critical accessibility violation (WCAG 2.1 AA rules).

The Chromium is Debian's (``apt-get install chromium``, done by ``scripts/setup --dev``), never a
browser downloaded by ``playwright install``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from service.config import ROOT
from tests.conftest import DEFAULT_PASSWORD, Harness

CHROMIUM = os.environ.get("SAMVERKAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

#: How long a browser test waits for something a person would wait for (a page after a submit, a
#: message). Generous: CI is a loaded 2-core machine, and a condition met early ends the wait early.
PATIENCE_MS = 30_000
expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/setup --dev (apt-get install chromium)"
    assert AXE.exists(), "node_modules is missing: run scripts/setup (npm ci)"
    # Swedish Chromium (chromium-l10n): date inputs show år-månad-dag as they do for the staff
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=sv"],
                                         env={**os.environ, "LANGUAGE": "sv"})
    yield browser
    browser.close()


#: A phone's window (iPhone 12–15): journeys walked at this width must never scroll sideways.
PHONE = {"width": 390, "height": 844}


class Site:
    """The running service with the real routines deployed, and people who use it in a browser."""

    def __init__(self, h: Harness, browser: Browser) -> None:
        self.h = h
        self.browser = browser
        self.url = h.url
        self._contexts: list[Any] = []
        #: The window people sign in with; a phone journey sets ``PHONE`` before anyone signs in.
        self.viewport = {"width": 1280, "height": 900}

    def person(self, username: str, *roles: str, districts: tuple[str, ...] = ("Sydväst",),
               organisation: str = "myndighet", name: str | None = None) -> Page:
        """Create the user (of ``organisation``, called ``name``) and return a page signed in as them
        through the sign-in form."""
        self.h.user(username, *roles, districts=districts, organisation=organisation, display_name=name)
        return self.sign_in(username)

    def sign_in(self, username: str) -> Page:
        context = self.browser.new_context(locale="sv-SE", timezone_id="Europe/Stockholm",
                                           viewport=dict(self.viewport), accept_downloads=True)
        context.set_default_timeout(PATIENCE_MS)
        # every CSP violation a page causes is collected (look() fails on any)
        context.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                                "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))")
        self._contexts.append(context)
        page = context.new_page()
        page.goto(f"{self.url}/logga-in")
        page.get_by_label("Användarnamn").fill(username)
        page.get_by_label("Lösenord").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_url(lambda url: "/logga-in" not in url)  # each lands where their work is
        return page

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def site(sqlite_harness: Harness, browser: Browser) -> Iterator[Site]:
    sqlite_harness.deploy_dir(ROOT / "bpmn", ROOT / "forms")
    # the home-care provider of the R3 story the pages are walked with
    from service.directory import add_organisation
    from tests.routines.test_utokat_stod_14_dagar import UTFORARE

    add_organisation(sqlite_harness.services, UTFORARE, kind="utforare", name="Omsorg Syd AB")
    s = Site(sqlite_harness, browser)
    yield s
    s.close()


def look(page: Page, name: str) -> list[dict[str, Any]]:
    """Screenshot the page and scan it with axe-core; fail on serious or critical violations."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    violations = page.evaluate("() => window.__csp || []")
    assert not violations, f"CSP on {name}: {violations}"
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # not a <script> tag: the pages' CSP allows no inline script
    results = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    bad = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    report = [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(
        n["target"][0] if isinstance(n["target"][0], str) else str(n["target"]) for n in v["nodes"][:5])
        for v in bad]
    assert not bad, f"axe on {name}: " + "\n".join(report)
    return list(results["violations"])
