"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from .config import Config
from .services import Services


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    config = config or Config.from_env()
    services = services or Services.create(config)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_upload_bytes + 1024 * 1024,
                      JSON_SORT_KEYS=False, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      TESTING=config.testing)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["samverkan"] = services

    from .api import register as register_api
    from .api.admin import root
    from .web import register as register_pages

    register_api(app)
    app.register_blueprint(root)
    register_pages(app)

    if config.run_scheduler:
        from .scheduler import TimerScheduler

        scheduler = TimerScheduler(services)
        scheduler.start()
        app.extensions["samverkan_scheduler"] = scheduler
    if config.smtp_host:
        from .notify import Notifier

        notifier = Notifier(services)
        services.hooks.tasks_created.append(notifier.on_tasks_created)
        notifier.start()
        app.extensions["samverkan_notifier"] = notifier
    logging.getLogger(__name__).debug("app created for %s", config.database_url)
    return app
