"""The staff pages: one blueprint per area (auth, inbox, tasks, instances, monitor, editor).

Pages never change state themselves: every action calls the operation the API calls
(``service.operations``) with the signed-in user as the actor, and every read goes through
``service.access``. This package only wires the areas together: the shared base template,
CSRF protection, the language (Swedish first, English), the navigation counts, and the
browser assets served from ``node_modules`` (bpmn-js) — never from a CDN.
"""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register every page area, the shared templates and static files, on ``app``."""
    from . import assets, csrf, i18n, layout
    from .auth.views import bp as auth_bp
    from .editor.views import bp as editor_bp
    from .inbox.views import bp as inbox_bp
    from .instances.views import bp as instances_bp
    from .monitor.views import bp as monitor_bp
    from .operations.views import bp as operations_bp
    from .tasks.views import bp as tasks_bp

    i18n.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(layout.bp)
    app.register_blueprint(assets.bp)
    for blueprint in (auth_bp, inbox_bp, tasks_bp, instances_bp, monitor_bp, operations_bp, editor_bp):
        app.register_blueprint(blueprint)
