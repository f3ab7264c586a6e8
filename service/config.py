"""Configuration from ``SAMVERKAN_*`` environment variables (documented in the README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _flag(var: str, text: str) -> bool:
    """A yes/no setting; anything else stops start-up rather than guessing."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{var} must be 1/0, true/false, yes/no or on/off, not {text!r}")


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'instance' / 'samverkan.sqlite3'}"


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=_default_database_url)
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    token_lifetime_hours: float = 12.0
    # a werkzeug hash method name, not a secret; tests use a cheap pbkdf2
    password_hash_method: str = "scrypt"  # noqa: S105
    max_upload_bytes: int = 5 * 1024 * 1024
    bpmn_dir: Path = ROOT / "bpmn"
    forms_dir: Path = ROOT / "forms"
    lanes_file: Path = ROOT / "bpmn" / "lanes.json"
    script_time_limit: float = 1.0
    script_workers: int = 2  # worker processes that run diagram code (expressions, scripts, helpers)
    script_memory_mb: int = 256  # address space a worker may add to what it maps at start-up
    max_instance_data_bytes: int = 1024 * 1024  # task data an expression or script may see or leave
    compact_threshold: int = 20  # tasks a workflow may hold before finished history is dropped
    run_scheduler: bool = False
    node_name: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "samverkan@localhost"
    base_url: str = "http://127.0.0.1:5000"
    # Failed sign-ins (page and token) one client address / one account name may make, per node
    # (Flask-Limiter strings); the lock below is the guard shared by every node.
    login_rate_limit: str = "30 per minute"
    login_account_rate_limit: str = "10 per minute"
    # The lock_after-th wrong password in a row locks the account for lock_seconds, each further
    # one doubles that, up to lock_max_seconds.
    login_lock_after: int = 5
    login_lock_seconds: float = 60.0
    login_lock_max_seconds: float = 3600.0
    # Secure cookies and HSTS; None: on unless base_url is a loopback address (or testing)
    secure_cookies: bool | None = None
    # /metrics: the bearer token a scraper sends, and/or host:port of a listener of its own (service.metrics)
    metrics_token: str | None = None
    metrics_address: str | None = None
    # sign-in through the municipality's identity provider (service.oidc.OidcSettings); None: local only
    oidc: Any = None
    # retention per routine, JSON {"<routine>": "P5Y", "*": "P5Y"} over the product's table
    # (service.operations.retention); the daily run is on unless retention_daily is off
    retention: str | None = None
    retention_daily: bool = True
    # the built-in external-task workers (service.external_workers): hosts the ``http`` worker may call
    # (host or host:port, comma-separated; none: it calls nothing), its timeout in seconds, and
    # whether the built-in workers run in this node's scheduler
    http_worker_hosts: tuple[str, ...] = ()
    http_worker_timeout: float = 10.0
    builtin_workers: bool = True
    testing: bool = False

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies carry ``Secure`` and responses HSTS (see ``secure_cookies``)."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return not (self.testing or urlsplit(self.base_url).hostname in _LOOPBACK)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Config:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        text = {
            "database_url": "SAMVERKAN_DATABASE_URL",
            "secret_key": "SAMVERKAN_SECRET_KEY",
            "node_name": "SAMVERKAN_NODE_NAME",
            "smtp_host": "SAMVERKAN_SMTP_HOST",
            "smtp_sender": "SAMVERKAN_SMTP_SENDER",
            "base_url": "SAMVERKAN_BASE_URL",
            "password_hash_method": "SAMVERKAN_PASSWORD_HASH_METHOD",
            "login_rate_limit": "SAMVERKAN_LOGIN_RATE_LIMIT",
            "login_account_rate_limit": "SAMVERKAN_LOGIN_ACCOUNT_RATE_LIMIT",
            "metrics_token": "SAMVERKAN_METRICS_TOKEN",
            "metrics_address": "SAMVERKAN_METRICS_ADDRESS",
            "retention": "SAMVERKAN_RETENTION",
        }
        for name, var in text.items():
            if env.get(var):
                values[name] = env[var]
        numbers = {
            "token_lifetime_hours": ("SAMVERKAN_TOKEN_LIFETIME_HOURS", float),
            "max_upload_bytes": ("SAMVERKAN_MAX_UPLOAD_BYTES", int),
            "script_time_limit": ("SAMVERKAN_SCRIPT_TIME_LIMIT", float),
            "script_workers": ("SAMVERKAN_SCRIPT_WORKERS", int),
            "script_memory_mb": ("SAMVERKAN_SCRIPT_MEMORY_MB", int),
            "max_instance_data_bytes": ("SAMVERKAN_MAX_INSTANCE_DATA_BYTES", int),
            "compact_threshold": ("SAMVERKAN_COMPACT_THRESHOLD", int),
            "smtp_port": ("SAMVERKAN_SMTP_PORT", int),
            "login_lock_after": ("SAMVERKAN_LOGIN_LOCK_AFTER", int),
            "login_lock_seconds": ("SAMVERKAN_LOGIN_LOCK_SECONDS", float),
            "login_lock_max_seconds": ("SAMVERKAN_LOGIN_LOCK_MAX_SECONDS", float),
            "http_worker_timeout": ("SAMVERKAN_HTTP_WORKER_TIMEOUT", float),
        }
        for name, (var, kind) in numbers.items():
            if env.get(var):
                values[name] = kind(env[var])
        paths = {"bpmn_dir": "SAMVERKAN_BPMN_DIR", "forms_dir": "SAMVERKAN_FORMS_DIR",
                 "lanes_file": "SAMVERKAN_LANES_FILE"}
        for name, var in paths.items():
            if env.get(var):
                values[name] = Path(env[var])
        if env.get("SAMVERKAN_RETENTION_DAILY"):
            values["retention_daily"] = _flag("SAMVERKAN_RETENTION_DAILY", env["SAMVERKAN_RETENTION_DAILY"])
        if env.get("SAMVERKAN_HTTP_WORKER_HOSTS"):
            values["http_worker_hosts"] = tuple(h.strip().lower() for h in env["SAMVERKAN_HTTP_WORKER_HOSTS"].split(",")
                                                if h.strip())
        if env.get("SAMVERKAN_BUILTIN_WORKERS"):
            values["builtin_workers"] = _flag("SAMVERKAN_BUILTIN_WORKERS", env["SAMVERKAN_BUILTIN_WORKERS"])
        if env.get("SAMVERKAN_SECURE_COOKIES"):
            values["secure_cookies"] = _flag("SAMVERKAN_SECURE_COOKIES", env["SAMVERKAN_SECURE_COOKIES"])
        from .oidc import OidcSettings

        values["oidc"] = OidcSettings.from_env(env)
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)
