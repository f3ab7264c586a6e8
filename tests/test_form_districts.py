"""Districts are configuration (``SAMVERKAN_DISTRICTS``): every routine's forms offer the
municipality's own districts — never Göteborg's to a municipality with other districts, and no
district field at all to one without districts (``x-districts``, closed by ``service.directory``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.actor import Actor
from service.directory import with_choices
from service.roles import GOTEBORG_DISTRICTS
from service.services import Services

from .conftest import make_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = sorted((ROOT / "forms").glob("*/*.schema.json"))
#: Another municipality's districts.
OTHER = frozenset({"Norr", "Söder"})
ACTOR = Actor("sara", frozenset({"socialsekreterare"}), frozenset({"Norr"}))


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from service.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('districts') / 'samverkan.sqlite3'}"
    upgrade(url)
    services = Services.create(make_config(url))
    yield services
    services.close()


def _offered(node: Any) -> set[str]:
    """Every value the form offers or suggests: choices, their labels, constants and defaults."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("enum", "x-enum-labels", "examples") and isinstance(value, list):
                found |= {v for v in value if isinstance(v, str)}
            elif key in ("const", "default") and isinstance(value, str):
                found.add(value)
            found |= _offered(value)
    elif isinstance(node, list):
        for value in node:
            found |= _offered(value)
    return found


def _district_fields(node: Any) -> int:
    if isinstance(node, dict):
        return int(bool(node.get("x-districts"))) + sum(_district_fields(v) for v in node.values())
    if isinstance(node, list):
        return sum(_district_fields(v) for v in node)
    return 0


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_form_offers_goteborgs_districts_to_another_municipality(
        path: Path, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    marked = _district_fields(schema)
    with services.db.read() as db:
        monkeypatch.setattr("service.directory.DISTRICTS", OTHER)
        elsewhere = with_choices(db, ACTOR, schema)
        monkeypatch.setattr("service.directory.DISTRICTS", frozenset())
        without = with_choices(db, ACTOR, schema)
    # a municipality with other districts is offered its own, never Göteborg's
    assert not _offered(elsewhere) & GOTEBORG_DISTRICTS, "a district list without the x-districts marker"
    if marked:
        assert _offered(elsewhere) >= OTHER
    # a municipality without districts is not asked for one at all
    assert not _offered(without) & GOTEBORG_DISTRICTS
    assert _district_fields(without) == 0
