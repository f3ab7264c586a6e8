"""Sign-in through the municipality's identity provider: a real OIDC provider on loopback
(tests/oidc_provider.py), the authorization code flow followed as a browser follows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from service.config import Config
from service.models import User
from service.oidc import OidcSettings
from service.operations.users import create_token

from .conftest import Api, Harness, start_harness
from .oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider

ROLE_MAP = {"SOC-Socialsekreterare": ("socialsekreterare",), "SOC-Chefer": ("chef",),
            "SOC-Mottag": ("mottag", "socialsekreterare")}
ANNA = {"preferred_username": "anna.berg", "name": "Anna Berg", "email": "anna.berg@kommun.example",
        "groups": ["SOC-Socialsekreterare", "Alla-anstallda"], "districts": ["Nordost", "Atlantis"],
        "organisation": "myndighet"}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


@pytest.fixture
def sso(provider: Provider, database_url: str) -> Iterator[Harness]:
    provider.person, provider.fault = dict(ANNA), None
    settings = OidcSettings(issuer=provider.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, role_map=ROLE_MAP)
    h = start_harness(database_url, oidc=settings)
    yield h
    h.server.stop()


def sign_in(h: Harness, browser: requests.Session | None = None) -> tuple[requests.Session, requests.Response]:
    """Press "Logga in med kommunens konto" and follow the redirects, as a browser does."""
    browser = browser or requests.Session()
    page = browser.get(f"{h.url}/logga-in", timeout=30)
    assert "/logga-in/sso" in page.text  # the button is there
    return browser, browser.get(f"{h.url}/logga-in/sso", params={"next": "/inkorg"}, timeout=30)


def me(h: Harness, browser: requests.Session) -> Any:
    return browser.get(f"{h.url}/api/v1/me", timeout=30)


def test_claims_make_the_user_and_each_sign_in_refreshes_them(sso: Harness, provider: Provider) -> None:
    h = sso
    first, response = sign_in(h)
    assert response.status_code == 200 and response.url.endswith("/inkorg")
    anna = me(h, first).json()
    # groups map to roles (an unmapped group grants nothing), unknown districts are dropped
    assert anna == {**anna, "username": "anna.berg", "display_name": "Anna Berg", "roles": ["socialsekreterare"],
                    "districts": ["Nordost"], "organisation": "myndighet"}
    token = Api(h.url, create_token(h.services, "anna.berg"))  # an integration token of hers stays
    assert token.ok("GET", "/api/v1/me")["roles"] == ["socialsekreterare"]

    # she moves to a manager's post: the next sign-in takes the old role away at once
    provider.person = {**ANNA, "groups": ["SOC-Chefer"], "districts": ["Hisingen"]}
    second, response = sign_in(h)
    assert response.status_code == 200
    assert me(h, second).json()["roles"] == ["chef"] and me(h, second).json()["districts"] == ["Hisingen"]
    assert me(h, first).status_code == 401  # the session with the old roles has ended
    assert token.ok("GET", "/api/v1/me")["roles"] == ["chef"]

    # she leaves social services: no group grants a role, so she keeps none, nor any session or token
    provider.person = {**ANNA, "groups": ["Alla-anstallda"]}
    third, response = sign_in(h)
    assert response.status_code == 403
    assert "Ditt konto ger ingen roll i Samverkan" in response.text
    assert me(h, third).status_code == 401 and me(h, second).status_code == 401
    assert token.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_local_accounts_stay_and_are_not_taken_over(sso: Harness, provider: Provider) -> None:
    h = sso
    h.user("lars", "admin")  # a local account with a password
    provider.person = {**ANNA, "preferred_username": "lars", "groups": ["SOC-Socialsekreterare"]}
    browser, response = sign_in(h)
    assert response.status_code == 403 and "lokalt konto" in response.text
    assert me(h, browser).status_code == 401
    assert h.login("lars").ok("GET", "/api/v1/me")["roles"] == ["admin"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("fault", "message"), [
    ("tampered", "svaret från inloggningstjänsten var inte äkta"),
    ("wrong_audience", "utfärdad för en annan tjänst än Samverkan"),
    ("expired", "Inloggningen har gått ut"),
    ("missing:groups", "Inloggningen saknar uppgiften ”groups”"),
    ("missing:organisation", "Inloggningen saknar uppgiften ”organisation”"),
])
def test_a_bad_id_token_is_refused_and_changes_nothing(sso: Harness, provider: Provider, fault: str,
                                                        message: str) -> None:
    h = sso
    provider.fault = fault
    browser, response = sign_in(h)
    assert response.status_code == 401
    assert message in response.text
    assert me(h, browser).status_code == 401
    with h.services.db.read() as session:
        assert session.scalar(select(User).where(User.username == "anna.berg")) is None


def test_without_a_provider_there_is_no_sso(sqlite_url: str) -> None:
    h = start_harness(sqlite_url)
    try:
        assert "/logga-in/sso" not in h.anonymous.get("/logga-in").text
        assert h.anonymous.get("/logga-in/sso").status_code == 404
    finally:
        h.server.stop()


def test_the_configuration_is_read_from_the_environment_and_checked() -> None:
    env = {"SAMVERKAN_OIDC_ISSUER": "https://login.kommun.example/realms/staff",
           "SAMVERKAN_OIDC_CLIENT_ID": "samverkan", "SAMVERKAN_OIDC_CLIENT_SECRET": "s3cret",
           "SAMVERKAN_OIDC_ROLE_MAP": '{"SOC-Chefer": "chef", "SOC-Mottag": ["mottag", "socialsekreterare"]}',
           "SAMVERKAN_OIDC_DISTRICTS_CLAIM": "stadsomraden"}
    settings = Config.from_env(env).oidc
    assert settings.role_map == {"SOC-Chefer": ("chef",), "SOC-Mottag": ("mottag", "socialsekreterare")}
    assert settings.districts_claim == "stadsomraden" and settings.groups_claim == "groups"
    assert settings.metadata_url == "https://login.kommun.example/realms/staff/.well-known/openid-configuration"
    assert Config.from_env({}).oidc is None
    for broken, complaint in (({"SAMVERKAN_OIDC_CLIENT_SECRET": ""}, "CLIENT_SECRET"),
                              ({"SAMVERKAN_OIDC_ROLE_MAP": '{"SOC-Chefer": "kung"}'}, "kung"),
                              ({"SAMVERKAN_OIDC_ROLE_MAP": "chef"}, "not JSON")):
        with pytest.raises(ValueError, match=complaint):
            Config.from_env({**env, **broken})
