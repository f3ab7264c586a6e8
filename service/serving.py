"""``samverkan serve --workers N``: several service processes on one port, supervised.

The parent binds the listening socket once and forks N workers; each builds its own app (database
pool, timer loop, sandbox workers) after the fork and serves the shared socket with waitress, so
the kernel hands each connection to whichever worker accepts it first. Nothing is shared between
workers but the database: sessions hold because the parent fixes one secret key for all of them,
timers fire once because claims are leases in the database (each worker is its own node:
``hostname:pid``, or ``SAMVERKAN_NODE_NAME`` with ``-1``, ``-2``, … appended), and rate limits
are per worker (as they are per node).

``SAMVERKAN_METRICS_ADDRESS`` ``host:port`` gives worker *i* the port ``port + i``: counters are per
process, so each worker is its own scrape target.

A worker that dies is started again after a second; SIGTERM or SIGINT to the parent stops them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds before a dead worker is started again (a crash loop stays slow)


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(1024)
    return sock


def worker_environment(index: int) -> None:
    """What differs per worker: its node name (timer claims are per node) and its metrics port."""
    node = os.environ.get("SAMVERKAN_NODE_NAME")
    if node:  # unset, each worker is hostname:pid already
        os.environ["SAMVERKAN_NODE_NAME"] = f"{node}-{index + 1}"
    address = os.environ.get("SAMVERKAN_METRICS_ADDRESS")
    if address:
        host, _, port = address.rpartition(":")
        os.environ["SAMVERKAN_METRICS_ADDRESS"] = f"{host}:{int(port) + index}"


def serve_workers(make_app: Callable[[], Any], host: str, port: int, *, threads: int, workers: int) -> None:
    from waitress import serve as waitress_serve

    sock = listening_socket(host, port)
    # one key for every worker, or a session cookie signed by one is refused by the next
    os.environ.setdefault("SAMVERKAN_SECRET_KEY", secrets.token_hex(32))
    children: dict[int, int] = {}  # pid → worker index
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                worker_environment(index)
                waitress_serve(make_app(), sockets=[sock], threads=threads, ident="samverkan")
                status = 0
            except BaseException:  # noqa: BLE001 - a worker must never return into the parent's loop
                logger.exception("worker %d stopped", index)
            finally:
                os._exit(status)
        children[pid] = index

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(workers):
        spawn(index)
    logger.info("serving with %d workers", workers)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        logger.warning("worker %d (pid %d) ended with status %d; starting it again", index, pid, status)
        time.sleep(RESTART_PAUSE)
        if not stopping:
            spawn(index)
    sock.close()
