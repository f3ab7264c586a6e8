"""Configuration from ``SAMVERKAN_*`` environment variables (documented in the README)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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
    compact_threshold: int = 20  # tasks a workflow may hold before finished history is dropped
    run_scheduler: bool = False
    node_name: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "samverkan@localhost"
    base_url: str = "http://127.0.0.1:5000"
    testing: bool = False

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
        }
        for name, var in text.items():
            if env.get(var):
                values[name] = env[var]
        numbers = {
            "token_lifetime_hours": ("SAMVERKAN_TOKEN_LIFETIME_HOURS", float),
            "max_upload_bytes": ("SAMVERKAN_MAX_UPLOAD_BYTES", int),
            "script_time_limit": ("SAMVERKAN_SCRIPT_TIME_LIMIT", float),
            "compact_threshold": ("SAMVERKAN_COMPACT_THRESHOLD", int),
            "smtp_port": ("SAMVERKAN_SMTP_PORT", int),
        }
        for name, (var, kind) in numbers.items():
            if env.get(var):
                values[name] = kind(env[var])
        paths = {"bpmn_dir": "SAMVERKAN_BPMN_DIR", "forms_dir": "SAMVERKAN_FORMS_DIR",
                 "lanes_file": "SAMVERKAN_LANES_FILE"}
        for name, var in paths.items():
            if env.get(var):
                values[name] = Path(env[var])
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)
