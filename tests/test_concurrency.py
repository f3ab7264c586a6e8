"""No update is ever lost: racing completions, and a server killed mid-stream."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import requests

from .conftest import DEFAULT_PASSWORD, FIXTURES, Api, Harness, make_config
from .test_lifecycle import START, open_tasks, start
from .waiting import wait_until, wait_until_serving


def test_eight_simultaneous_completions_one_wins(harness: Harness) -> None:
    h = harness
    h.user("sara", "socialsekreterare")
    instance = start(h)
    [task] = open_tasks(h, "sara")
    clients = [h.login("sara") for _ in range(8)]
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def complete(api: Api) -> None:
        barrier.wait()
        response = api.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"beslut": "godkant"}})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=complete, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    detail = h.as_("sara").ok("GET", f"/api/v1/instances/{instance['id']}")
    assert detail["state"] == "waiting"
    assert [e["action"] for e in detail["history"]].count("task_completed") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SAMVERKAN_DATABASE_URL": url, "SAMVERKAN_BPMN_DIR": str(FIXTURES / "bpmn"),
           "SAMVERKAN_FORMS_DIR": str(FIXTURES / "forms"), "SAMVERKAN_SECRET_KEY": "test"}
    process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                                "--no-scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(process, port)
    except AssertionError:
        process.kill()
        raise
    return process


def test_kill_9_loses_no_acknowledged_completion(database_url: str, tmp_path: Path) -> None:
    from service.actor import SYSTEM
    from service.operations.deploy import deploy_tree
    from service.operations.users import create_user
    from service.services import Services

    services = Services.create(make_config(database_url))
    deploy_tree(services, SYSTEM, FIXTURES / "bpmn", FIXTURES / "forms")
    create_user(services, "sara", roles=["socialsekreterare"], districts=["Nordost"], password=DEFAULT_PASSWORD)
    port = _free_port()
    server = _serve(database_url, port)
    base = f"http://127.0.0.1:{port}"
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "sara", "password": DEFAULT_PASSWORD},
                          timeout=10).json()["token"]
    api = Api(base, token)
    instances = [api.ok("POST", "/api/v1/instances", 201, json={"process": "core_demo", "data": START})["id"]
                 for _ in range(40)]
    tasks = {t["instance_id"]: t["id"] for t in api.ok("GET", "/api/v1/tasks", params={"per_page": 100})["items"]}
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        for instance_id in instances:
            if stop.is_set():
                return
            try:
                response = api.post(f"/api/v1/tasks/{tasks[instance_id]}/complete",
                                    json={"data": {"beslut": "godkant"}})
            except requests.RequestException:
                return
            if response.status_code == 200:
                acknowledged.append(instance_id)

    writer = threading.Thread(target=stream)
    writer.start()
    wait_until(lambda: len(acknowledged) >= 10 or not writer.is_alive(), what="ten acknowledged completions",
               interval=0.005)
    server.send_signal(signal.SIGKILL)  # mid-stream, no chance to flush anything
    server.wait()
    stop.set()
    writer.join()
    assert 10 <= len(acknowledged) < len(instances)

    server = _serve(database_url, port)
    try:
        for instance_id in acknowledged:
            detail = api.ok("GET", f"/api/v1/instances/{instance_id}")
            assert detail["state"] == "waiting", instance_id  # the completion is there
            # and the instance continues
            api.ok("POST", f"/api/v1/instances/{instance_id}/messages", json={"name": "klart", "data": {}})
            assert api.ok("GET", f"/api/v1/instances/{instance_id}")["state"] == "completed"
        untouched = [i for i in instances if i not in acknowledged]
        detail = api.ok("GET", f"/api/v1/instances/{untouched[-1]}")
        assert detail["state"] == "running"
    finally:
        server.kill()
        server.wait()
        services.close()
