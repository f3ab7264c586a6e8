"""``samverkan serve --workers N``: several processes on one port, one session across them, supervised."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .conftest import DEFAULT_PASSWORD, FIXTURES, Harness, start_harness
from .test_concurrency import _free_port
from .waiting import wait_until, wait_until_serving

WORKERS = 2


@pytest.fixture
def workers(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Harness]]:
    h = start_harness(sqlite_url)
    h.deploy_dir(FIXTURES / "bpmn", FIXTURES / "forms")
    h.user("sara", "socialsekreterare")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "SAMVERKAN_SECRET_KEY"}  # the parent picks one
    env |= {"SAMVERKAN_DATABASE_URL": sqlite_url, "SAMVERKAN_NODE_NAME": "nod",
            "SAMVERKAN_BPMN_DIR": str(FIXTURES / "bpmn"), "SAMVERKAN_FORMS_DIR": str(FIXTURES / "forms")}
    with open(tmp_path / "serve.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                                    "--workers", str(WORKERS)], env=env, stdout=log, stderr=log)
    try:
        wait_until_serving(process, port)
        yield f"http://127.0.0.1:{port}", process, h
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        h.server.stop()


def _node(url: str) -> str:
    """Which worker answers a fresh connection."""
    return str(requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=30).json()["node"])


def _all_nodes(url: str) -> set[str]:
    """The node names of the workers, asked until each has answered."""
    seen: set[str] = set()

    def each_answered() -> bool:
        seen.add(_node(url))
        return len(seen) >= WORKERS

    wait_until(each_answered, what=f"answers from {WORKERS} workers")
    return seen


def test_the_workers_share_the_port_and_a_session_signed_by_one_holds_on_the_other(workers) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = workers
    assert _all_nodes(url) == {"nod-1", "nod-2"}  # one node name each: timer claims are per node
    http = requests.Session()
    page = http.get(f"{url}/logga-in", headers={"Connection": "close"}, timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    http.post(f"{url}/logga-in", data={"username": "sara", "password": DEFAULT_PASSWORD, "csrf_token": token},
              headers={"Connection": "close"}, timeout=30, allow_redirects=False)
    # every request a new connection, so the kernel hands them to either worker
    for _ in range(20):
        inbox = http.get(f"{url}/inkorg", headers={"Connection": "close"}, timeout=30, allow_redirects=False)
        assert inbox.status_code == 200, "a worker did not accept the session the other signed"


def test_a_killed_worker_is_started_again_and_stop_ends_them_all(workers) -> None:  # type: ignore[no-untyped-def]
    url, process, _ = workers
    _all_nodes(url)
    children = _children(process.pid)
    assert len(children) == WORKERS
    os.kill(children[0], signal.SIGKILL)
    wait_until(lambda: len(_children(process.pid)) == WORKERS and children[0] not in _children(process.pid),
               what="the worker started again")
    assert _all_nodes(url) == {"nod-1", "nod-2"}
    last = _children(process.pid)
    process.terminate()
    assert process.wait(timeout=60) == 0
    assert not [pid for pid in last if _alive(pid)]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
