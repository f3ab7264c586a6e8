"""Signing in, staying signed in and what every response tells the browser, as an attacker tries them.

Wrong passwords lock the account for a growing period (the count is on the user row, so every node
sees it) and are rate-limited per address and per account name; a copied session cookie dies when
its user signs out, changes password or is deactivated; a deactivated user's token is refused on
the next request; every response carries the security headers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import update

from service.app import CONTENT_SECURITY_POLICY
from service.clock import SYSTEM_CLOCK
from service.config import Config
from service.models import Event, User
from service.operations.users import deactivate_user, set_password

from .conftest import DEFAULT_PASSWORD, Harness, start_harness
from .web.test_pages_http import signed_in_session

WRONG = "not-the-password"


def _token(h: Harness, username: str, password: str) -> requests.Response:
    return h.anonymous.post("/api/v1/auth/token", json={"username": username, "password": password})


def _page_sign_in(h: Harness, username: str, password: str) -> requests.Response:
    http = requests.Session()
    page = http.get(f"{h.url}/logga-in").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return http.post(f"{h.url}/logga-in", data={"username": username, "password": password, "csrf_token": token},
                     allow_redirects=False)


def _refused(response: requests.Response, status: int = 401) -> str:
    """The one answer for an unknown name, a wrong password and a locked account."""
    assert response.status_code == status, response.text
    if response.headers["Content-Type"] == "application/problem+json":
        return str(response.json()["detail"])
    assert "Fel användarnamn eller lösenord." in response.text
    return "page"


@pytest.fixture
def generous(database_url: str) -> Iterator[Harness]:
    """Rate limits out of the way, so the lock in the database is what the test sees."""
    h = start_harness(database_url, login_rate_limit="1000 per minute", login_account_rate_limit="1000 per minute")
    yield h
    h.server.stop()


def test_wrong_passwords_lock_the_account_for_a_growing_period(generous: Harness) -> None:
    h = generous
    h.user("sara", "socialsekreterare")
    unknown = _refused(_token(h, "nobody", WRONG))
    # four wrong guesses: still open, the right password works and starts the count again
    for _ in range(4):
        assert _refused(_token(h, "sara", WRONG)) == unknown
    assert _token(h, "sara", DEFAULT_PASSWORD).status_code == 200
    # five in a row lock the account for a minute: even the right password gets the same answer,
    # on the page too, as an unknown name does
    for _ in range(5):
        assert _refused(_token(h, "sara", WRONG)) == unknown
    assert _refused(_token(h, "sara", DEFAULT_PASSWORD)) == unknown
    _refused(_page_sign_in(h, "sara", DEFAULT_PASSWORD))
    _refused(_page_sign_in(h, "nobody", DEFAULT_PASSWORD))
    SYSTEM_CLOCK.advance(seconds=50)
    assert _refused(_token(h, "sara", DEFAULT_PASSWORD)) == unknown
    # the minute has passed; one more wrong guess locks it again, now for two minutes
    SYSTEM_CLOCK.advance(seconds=11)
    assert _refused(_token(h, "sara", WRONG)) == unknown
    SYSTEM_CLOCK.advance(seconds=61)
    assert _refused(_token(h, "sara", DEFAULT_PASSWORD)) == unknown
    SYSTEM_CLOCK.advance(seconds=60)
    # open again: the right password signs in (page and token) and clears the count
    assert _page_sign_in(h, "sara", DEFAULT_PASSWORD).status_code == 302
    assert _token(h, "sara", DEFAULT_PASSWORD).status_code == 200
    with h.services.db.read() as db:
        sara = db.query(User).filter_by(username="sara").one()
        assert sara.failed_logins == 0 and sara.locked_until is None
        locks = db.query(Event).filter_by(action="account_locked").all()
    assert [e.detail["failures"] for e in locks] == [5, 6]


def test_the_lock_doubles_up_to_its_cap(sqlite_url: str) -> None:
    h = start_harness(sqlite_url, login_rate_limit="1000 per minute", login_account_rate_limit="1000 per minute",
                      login_lock_after=2, login_lock_seconds=60, login_lock_max_seconds=150)
    try:
        h.user("sara", "socialsekreterare")
        _refused(_token(h, "sara", WRONG))
        _refused(_token(h, "sara", WRONG))  # locked 60 s
        periods = []
        for _ in range(3):
            with h.services.db.read() as db:
                until = db.query(User).filter_by(username="sara").one().locked_until
            assert until is not None
            periods.append(round((until - SYSTEM_CLOCK.now()).total_seconds() / 10) * 10)
            SYSTEM_CLOCK.advance(seconds=periods[-1] + 1)
            _refused(_token(h, "sara", WRONG))
        assert periods == [60, 120, 150]
    finally:
        h.server.stop()


def test_failed_sign_ins_are_rate_limited_per_address_and_per_account(sqlite_url: str) -> None:
    h = start_harness(sqlite_url, login_rate_limit="5 per minute", login_account_rate_limit="2 per minute",
                      login_lock_after=100)
    try:
        h.user("sara", "socialsekreterare")
        h.user("bo", "socialsekreterare")
        # signing in successfully is never counted
        for _ in range(6):
            assert _token(h, "sara", DEFAULT_PASSWORD).status_code == 200
        # two failures for one name, then that name is refused for a while, page and API alike
        _refused(_token(h, "sara", WRONG))
        _refused(_page_sign_in(h, "sara", WRONG))
        throttled = _token(h, "sara", DEFAULT_PASSWORD)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"]
        _refused(_page_sign_in(h, "sara", DEFAULT_PASSWORD), 429)
        # other names still go, until this address has failed five times
        assert _token(h, "bo", DEFAULT_PASSWORD).status_code == 200
        for name in ("bo", "bo", "nobody"):
            _refused(_token(h, name, WRONG))
        assert _token(h, "bo", DEFAULT_PASSWORD).status_code == 429
        assert _token(h, "someone-else", WRONG).status_code == 429
    finally:
        h.server.stop()


def test_a_copied_session_cookie_dies_when_its_user_signs_out(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    browser, _ = signed_in_session(h, "sara")
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    assert thief.get(f"{h.url}/inkorg", allow_redirects=False).status_code == 200
    assert thief.get(f"{h.url}/api/v1/me").status_code == 200
    other_device, csrf = signed_in_session(h, "sara")
    # sara signs out in her browser: every session of hers ends, the copy and her other device too
    assert browser.post(f"{h.url}/logga-ut", data={"csrf_token": _csrf(browser, h)}).status_code == 200
    for http in (thief, other_device):
        answer = http.get(f"{h.url}/inkorg", allow_redirects=False)
        assert answer.status_code == 302 and "/logga-in" in answer.headers["Location"]
        assert http.get(f"{h.url}/api/v1/me").status_code == 401
    refused = other_device.post(f"{h.url}/api/v1/instances", json={"process": "core_demo", "data": {}},
                                headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 401
    # her API token is not a session: it keeps working; signing in again gives a working session
    assert h.as_("sara").get("/api/v1/me").status_code == 200
    again, _ = signed_in_session(h, "sara")
    assert again.get(f"{h.url}/inkorg", allow_redirects=False).status_code == 200
    assert thief.get(f"{h.url}/inkorg", allow_redirects=False).status_code == 302


def _csrf(http: requests.Session, h: Harness) -> str:
    page = http.get(f"{h.url}/inkorg").text
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def test_deactivation_refuses_token_and_session_at_once(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    page, _ = signed_in_session(h, "sara")
    for _ in range(3):  # the token's actor is in this node's cache now
        assert sara.get("/api/v1/me").status_code == 200
    deactivate_user(h.services, "sara")
    assert sara.get("/api/v1/me").status_code == 401
    assert page.get(f"{h.url}/inkorg", allow_redirects=False).status_code == 302
    _refused(_token(h, "sara", DEFAULT_PASSWORD))


def test_a_deactivation_written_straight_to_the_database_also_bites_at_once(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    assert sara.get("/api/v1/me").status_code == 200
    with h.services.db.command() as db:  # as another node, or an operator in SQL, would
        db.execute(update(User).where(User.username == "sara").values(is_active=False))
    assert sara.get("/api/v1/me").status_code == 401


def test_a_new_password_ends_sessions_and_tokens(harness: Harness) -> None:
    h = harness
    sara = h.user("sara", "socialsekreterare")
    page, _ = signed_in_session(h, "sara")
    assert sara.get("/api/v1/me").status_code == 200
    set_password(h.services, "sara", "a-new-password-2")
    assert sara.get("/api/v1/me").status_code == 401
    assert page.get(f"{h.url}/inkorg", allow_redirects=False).status_code == 302
    _refused(_token(h, "sara", DEFAULT_PASSWORD))
    assert _token(h, "sara", "a-new-password-2").status_code == 200


def _assert_security_headers(response: requests.Response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_response_carries_the_security_headers(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    sara = h.user("sara", "socialsekreterare")
    page, _ = signed_in_session(h, "sara")
    for response in (page.get(f"{h.url}/inkorg"), h.anonymous.get("/logga-in"), sara.get("/api/v1/me"),
                     sara.get("/api/v1/tasks/nope"), h.anonymous.get("/api/v1/me"),
                     h.anonymous.get("/static/samverkan/samverkan.css"), h.anonymous.get("/healthz"),
                     page.get(f"{h.url}/no-such-page")):
        _assert_security_headers(response)
        # served over plain HTTP on 127.0.0.1 in tests: no HSTS, cookies without Secure
        assert "Strict-Transport-Security" not in response.headers
        assert "Secure" not in response.headers.get("Set-Cookie", "")


def test_secure_cookies_set_secure_and_hsts(sqlite_url: str) -> None:
    h = start_harness(sqlite_url, secure_cookies=True)
    try:
        response = h.anonymous.get("/logga-in")  # the page's CSRF token starts a session cookie
        assert "; Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        _assert_security_headers(response)
        assert h.anonymous.get("/api/v1/me").headers["Strict-Transport-Security"]
    finally:
        h.server.stop()


@pytest.mark.parametrize("env,expected", [
    ({}, False),  # the default base URL is 127.0.0.1
    ({"SAMVERKAN_BASE_URL": "http://localhost:5000"}, False),
    ({"SAMVERKAN_BASE_URL": "https://samverkan.goteborg.se"}, True),
    ({"SAMVERKAN_BASE_URL": "https://samverkan.goteborg.se", "SAMVERKAN_SECURE_COOKIES": "off"}, False),
    ({"SAMVERKAN_SECURE_COOKIES": "1"}, True),
])
def test_secure_cookies_are_on_unless_served_on_loopback(env: dict[str, str], expected: bool) -> None:
    assert Config.from_env(env).cookies_secure is expected
    assert Config.from_env(env, testing=True).cookies_secure is (env.get("SAMVERKAN_SECURE_COOKIES") == "1")


def test_a_misspelt_secure_cookies_setting_stops_start_up() -> None:
    with pytest.raises(ValueError, match="SAMVERKAN_SECURE_COOKIES"):
        Config.from_env({"SAMVERKAN_SECURE_COOKIES": "maybe"})
