"""A case worker signs in with the municipality's account, in a browser, and one whose sign-in the
provider answers wrongly reads why in Swedish (tests/oidc_provider.py is the provider)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from service.oidc import OidcSettings
from tests.conftest import Harness, start_harness
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.test_oidc import ANNA, ROLE_MAP

from .conftest import PATIENCE_MS, look

BUTTON = "Logga in med kommunens konto"


@pytest.fixture
def sso(sqlite_url: str) -> Iterator[tuple[Harness, Provider]]:
    provider = Provider()
    provider.person = dict(ANNA)
    settings = OidcSettings(issuer=provider.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, role_map=ROLE_MAP)
    h = start_harness(sqlite_url, oidc=settings)
    yield h, provider
    h.server.stop()
    provider.stop()


def _sign_in_page(browser: Browser, h: Harness) -> Page:
    context = browser.new_context(locale="sv-SE", timezone_id="Europe/Stockholm",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PATIENCE_MS)
    context.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                            "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))")
    page = context.new_page()
    page.goto(f"{h.url}/logga-in")
    return page


def _press_link(page: Page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).focus()
    page.keyboard.press("Enter")


def test_a_case_worker_signs_in_with_the_municipality_account(sso: tuple[Harness, Provider], browser: Browser) -> None:
    h, provider = sso
    page = _sign_in_page(browser, h)
    look(page, "sso-01-logga-in")
    _press_link(page, BUTTON)
    page.wait_for_url(lambda url: "/logga-in" not in url)
    look(page, "sso-02-inloggad")
    assert "Anna Berg" in page.content()
    page.context.close()


def test_an_expired_sign_in_is_refused_in_swedish(sso: tuple[Harness, Provider], browser: Browser) -> None:
    h, provider = sso
    provider.fault = "expired"
    page = _sign_in_page(browser, h)
    _press_link(page, BUTTON)
    page.wait_for_url(lambda url: "/logga-in/sso/klar" in url)
    alert = page.get_by_role("alert")
    assert "Inloggningen har gått ut. Försök igen." in alert.inner_text()
    # it is not the password fields that were wrong
    assert page.get_by_label("Användarnamn").get_attribute("aria-invalid") is None
    look(page, "sso-03-utgangen")
    page.context.close()
