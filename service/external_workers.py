"""The built-in external-task workers: topic ``http`` (call an allowed web service) and ``email``.

They run in every service node (a thread the scheduler starts, ``ExternalWorkers``) and go through
the same operations as any worker program (``service.operations.external``): fetch and lock, then
complete or report a failure. They are small and refuse rather than guess:

``http`` — input variables ``url`` (http/https, its host — or ``host:port`` — listed in
``SAMVERKAN_HTTP_WORKER_HOSTS``), ``method`` (GET, POST, PUT, PATCH, DELETE; default GET), ``body``
(sent as JSON), ``headers`` (a few plain ones), ``secret`` (the name ``X`` of an environment variable
``SAMVERKAN_HTTP_SECRET_X`` sent as ``Authorization: Bearer …`` — a diagram names a secret, never
holds one) and ``response_variable`` (default ``http_response``), which receives ``{status, body}``.
Redirects are not followed, proxies from the environment are not used, the answer may be at most
``MAX_RESPONSE_BYTES`` and the call at most ``SAMVERKAN_HTTP_WORKER_TIMEOUT`` seconds. A 5xx or a
network error is retried (``HTTP_RETRIES`` times, ``RETRY_TIMEOUT`` apart); anything refused here,
a redirect or a 4xx fails at once (the case is in error, with the reason, for an admin).

``email`` — ``to`` (one address), ``subject`` (one line) and ``body`` (text) go into the e-mail
outbox (``service.notify``) in the completing transaction, and are sent like every other notice.
What a diagram puts in the body leaves the system: the process owner decides, as for any e-mail.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.orm import Session

from .actor import SYSTEM
from .models import ExternalTask, Notification
from .operations import external
from .services import Services

logger = logging.getLogger(__name__)

HTTP_TOPIC = "http"
EMAIL_TOPIC = "email"
KIND_EXTERNAL_EMAIL = "external_email"
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_SUBJECT = 200
MAX_BODY = 20_000
HTTP_RETRIES = 3  # attempts after the first failure of a 5xx or a network error
RETRY_TIMEOUT_MS = 30_000
POLL_SECONDS = 1.0
BATCH = 5
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
SECRET_PREFIX = "SAMVERKAN_HTTP_SECRET_"  # noqa: S105  (a variable-name prefix, not a secret)
_SECRET_NAME = re.compile(r"^[A-Z0-9_]{1,64}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_FORBIDDEN_HEADERS = frozenset({"host", "authorization", "cookie", "proxy-authorization", "content-length",
                                "transfer-encoding", "connection"})


class Refused(Exception):
    """The task cannot be done as asked (the case goes to error at once, with this reason)."""


class Transient(Exception):
    """The task may work later (a network error, a 5xx): retried."""


@dataclass(frozen=True)
class Worker:
    topic: str
    work: Callable[[Services, ExternalTask], tuple[dict[str, Any], Callable[[Session, ExternalTask], None] | None]]


# --- http -----------------------------------------------------------------------------------------

def http_call(services: Services, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Call what ``inputs`` ask for; returns the variables to complete with."""
    config = services.config
    url = inputs.get("url")
    if not isinstance(url, str) or not url:
        raise Refused("the input variable 'url' is missing")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise Refused(f"the url {url[:200]!r} is not a plain http(s) address")
    host = parts.hostname.lower()
    allowed = set(config.http_worker_hosts)
    if host not in allowed and f"{host}:{parts.port}" not in allowed:
        raise Refused(f"the host {host!r} is not allowed (SAMVERKAN_HTTP_WORKER_HOSTS)")
    method = str(inputs.get("method") or "GET").upper()
    if method not in METHODS:
        raise Refused(f"the method {method[:20]!r} is not one of {', '.join(sorted(METHODS))}")
    variable = str(inputs.get("response_variable") or "http_response")
    if not _VARIABLE.match(variable):
        raise Refused("response_variable must be a simple name")
    headers = _headers(inputs.get("headers"), inputs.get("secret"))
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the service's environment
    try:
        with session.request(method, url, json=inputs.get("body"), headers=headers, allow_redirects=False,
                             timeout=config.http_worker_timeout, stream=True) as response:
            content = _read_limited(response)
            status = response.status_code
            kind = response.headers.get("Content-Type", "")
    except requests.RequestException as err:
        raise Transient(f"{method} {host}: {type(err).__name__}") from err
    finally:
        session.close()
    if 300 <= status < 400:
        raise Refused(f"{method} {host} answered {status} (a redirect, which is not followed)")
    if status >= 500:
        raise Transient(f"{method} {host} answered {status}")
    if status >= 400:
        raise Refused(f"{method} {host} answered {status}")
    return {variable: {"status": status, "body": _body(content, kind)}}


def _headers(given: Any, secret: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    if given is not None:
        if not isinstance(given, Mapping) or len(given) > 20:
            raise Refused("headers must be an object of at most 20 headers")
        for name, value in given.items():
            if not isinstance(name, str) or not _HEADER.match(name) or name.lower() in _FORBIDDEN_HEADERS:
                raise Refused(f"the header {str(name)[:64]!r} may not be set")
            if not isinstance(value, str | int | float) or "\n" in str(value) or "\r" in str(value):
                raise Refused(f"the header {name!r} must be one line of text")
            headers[name] = str(value)[:1000]
    if secret is not None:
        if not isinstance(secret, str) or not _SECRET_NAME.match(secret):
            raise Refused("secret must name an environment variable (capital letters, digits, _)")
        value = os.environ.get(SECRET_PREFIX + secret)
        if not value:
            raise Refused(f"the secret {secret!r} is not configured ({SECRET_PREFIX}{secret})")
        headers["Authorization"] = f"Bearer {value}"
    return headers


def _read_limited(response: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise Refused(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _body(content: bytes, kind: str) -> Any:
    text = content.decode("utf-8", errors="replace")
    if "json" in kind:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _http(services: Services, task: ExternalTask) -> tuple[dict[str, Any], None]:
    return http_call(services, task.data), None


# --- email ----------------------------------------------------------------------------------------

def _email(services: Services, task: ExternalTask) -> tuple[dict[str, Any], Callable[[Session, ExternalTask], None]]:
    if not services.config.smtp_host:
        raise Refused("e-mail is off (SAMVERKAN_SMTP_HOST is not set)")
    to, subject, body = (task.data.get(k) for k in ("to", "subject", "body"))
    address = parseaddr(to)[1] if isinstance(to, str) else ""
    if not address or "@" not in address or any(c in str(to) for c in ",;\r\n"):
        raise Refused("the input variable 'to' must be one e-mail address")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT or "\n" in subject:
        raise Refused(f"the input variable 'subject' must be one line of at most {MAX_SUBJECT} characters")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise Refused(f"the input variable 'body' must be text of at most {MAX_BODY} characters")
    now = services.now()

    def queue(session: Session, done: ExternalTask) -> None:
        session.add(Notification(kind=KIND_EXTERNAL_EMAIL, task_id=done.id, recipient=address,
                                 subject=subject.strip(), body=body, created_at=now, attempts=0,
                                 next_attempt_at=now))

    return {}, queue


WORKERS = (Worker(HTTP_TOPIC, _http), Worker(EMAIL_TOPIC, _email))


# --- the loop ---------------------------------------------------------------------------------------

def run_builtin_workers(services: Services) -> int:
    """One round of every built-in worker: lock what is open, do it, report; returns tasks handled."""
    handled = 0
    for worker in WORKERS:
        worker_id = f"samverkan-{worker.topic}@{services.config.node_name}"
        lock_ms = int((services.config.http_worker_timeout + 60) * 1000)
        for task in external.fetch_and_lock(services, SYSTEM, [worker.topic], worker_id, lock_ms, BATCH):
            handled += 1
            _handle(services, worker, worker_id, task)
    return handled


def _handle(services: Services, worker: Worker, worker_id: str, task: ExternalTask) -> None:
    try:
        variables, within = worker.work(services, task)
    except Refused as err:
        logger.warning("%s task %s refused: %s", worker.topic, task.id, err)
        external.failure(services, SYSTEM, task.id, worker_id, str(err), 0)
        return
    except Transient as err:
        retries = (task.retries if task.retries is not None else HTTP_RETRIES + 1) - 1
        logger.warning("%s task %s failed (%d retries left): %s", worker.topic, task.id, retries, err)
        external.failure(services, SYSTEM, task.id, worker_id, str(err), max(retries, 0), RETRY_TIMEOUT_MS)
        return
    except Exception:  # a bug here must not re-offer the task forever: the case goes to error, logged
        logger.exception("%s task %s broke the built-in worker", worker.topic, task.id)
        external.failure(services, SYSTEM, task.id, worker_id, "the built-in worker failed (see the log)", 0)
        return
    external.complete(services, SYSTEM, task.id, worker_id, variables, within=within)
    if within is not None:
        for hook in services.hooks.mail_queued:
            hook()


class ExternalWorkers:
    """The thread running the built-in workers: a round every ``POLL_SECONDS``, or when a command
    has just created an external task of their topics (``wake``)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.services.hooks.external_tasks_created.append(self.on_created)
        self._thread = threading.Thread(target=self._run, name="samverkan-external-workers", daemon=True)
        self._thread.start()

    def on_created(self, topics: set[str]) -> None:
        if topics & {w.topic for w in WORKERS}:
            self._wake.set()

    def shutdown(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while run_builtin_workers(self.services) and not self._stopping.is_set():
                    pass
            except Exception:  # the database may be down: keep the thread, try again next round
                logger.exception("a round of the built-in external-task workers failed")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
