"""A journey walks a whole routine through many pages as several people: on a loaded 2-core CI
machine that can take minutes, so each has a longer bound than the suite's 300 s per test."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.timeout(900))
