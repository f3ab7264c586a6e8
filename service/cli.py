"""The ``samverkan`` command (API.md): serve, db upgrade, deploy, users, tokens, demo, timers, retention, backups."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from .actor import SYSTEM
from .config import Config
from .errors import ServiceError
from .models.organisation import OrganisationKind


def _services():  # type: ignore[no-untyped-def]
    from .services import Services

    return Services.create(Config.from_env())


def _fail(err: ServiceError) -> None:
    click.echo(f"error: {err.detail}", err=True)
    for field, messages in (err.errors or {}).items():
        for message in messages:
            click.echo(f"  {field}: {message}", err=True)
    sys.exit(1)


@click.group()
@click.option("--verbose", "-v", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """Samverkan: the municipal collaboration routines as running processes."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Service processes sharing the port (each with its own threads and timer loop).")
@click.option("--no-scheduler", is_flag=True, help="Serve without firing timers (another node fires them).")
def serve(host: str, port: int, threads: int, workers: int, no_scheduler: bool) -> None:
    """Serve the web service with its timer scheduler."""
    from waitress import serve as waitress_serve

    from .app import create_app

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per wake-up is noise
    click.echo(f"Samverkan serving on http://{host}:{port}" + (f" with {workers} workers" if workers > 1 else ""),
               err=True)
    if workers > 1:
        from .serving import serve_workers

        # each worker reads the configuration after the fork (serving.worker_environment)
        serve_workers(lambda: create_app(Config.from_env(run_scheduler=not no_scheduler)), host, port,
                      threads=threads, workers=workers)
        return
    app = create_app(Config.from_env(run_scheduler=not no_scheduler))
    waitress_serve(app, host=host, port=port, threads=threads, ident="samverkan")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database (SAMVERKAN_DATABASE_URL)."""
    from .migrate import upgrade

    config = Config.from_env()
    upgrade(config.database_url)
    click.echo("database is up to date", err=True)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def deploy(paths: tuple[str, ...]) -> None:
    """Validate and deploy diagrams and forms (default: bpmn/ and forms/)."""
    from pathlib import Path

    from .operations.deploy import deploy as deploy_files
    from .operations.deploy import deploy_tree

    services = _services()
    try:
        if not paths:
            deployed = deploy_tree(services, SYSTEM, services.config.bpmn_dir, services.config.forms_dir)
        else:
            files: dict[str, bytes] = {}
            for raw in paths:
                path = Path(raw)
                for item in ([path] if path.is_file() else sorted(path.rglob("*"))):
                    if item.is_file() and item.suffix in (".bpmn", ".dmn", ".json"):
                        name = item.name if item.suffix != ".json" else f"{item.parent.name}/{item.name}"
                        files[name] = item.read_bytes()
            deployed = deploy_files(services, SYSTEM, files)
    except ServiceError as err:
        for problem in err.extra.get("problems", []):
            element = f" [{problem['element']}]" if problem.get("element") else ""
            click.echo(f"{problem['file']}{element}: {problem['message']}", err=True)
        _fail(err)
        return
    for definition in deployed:
        click.echo(f"{definition.key} version {definition.version}")


@main.group()
def users() -> None:
    """Local user accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="A role key (repeatable).")
@click.option("--district", "districts", multiple=True, help="A stadsområde (repeatable).")
@click.option("--display-name", "--name", "display_name", help="The name people see and search for.")
@click.option("--organisation", default="myndighet", show_default=True,
              help="The key of the user's organisation (samverkan organisations add).")
@click.option("--email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(username: str, roles: tuple[str, ...], districts: tuple[str, ...], display_name: str | None,
              organisation: str, email: str | None, password_stdin: bool) -> None:
    """Create a user (the password is read from stdin, never from argv)."""
    from .operations.users import create_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        create_user(_services(), username, roles=list(roles), districts=list(districts), password=password,
                    display_name=display_name, email=email, organisation=organisation)
    except ServiceError as err:
        _fail(err)
    click.echo(f"created {username}", err=True)


@users.command("password")
@click.argument("username")
def users_password(username: str) -> None:
    """Set USERNAME's password from stdin; their sessions and tokens end at once."""
    from .operations.users import set_password

    try:
        set_password(_services(), username, sys.stdin.readline().rstrip("\n"))
    except ServiceError as err:
        _fail(err)
    click.echo(f"password changed for {username}", err=True)


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username: str) -> None:
    """Deactivate USERNAME: they cannot sign in, and their sessions and tokens end at once."""
    from .operations.users import deactivate_user

    try:
        deactivate_user(_services(), username)
    except ServiceError as err:
        _fail(err)
    click.echo(f"deactivated {username}", err=True)


@main.group()
def organisations() -> None:
    """Organisations: the authority's units, providers, the region, other förvaltningar, EKU."""


@organisations.command("add")
@click.argument("key")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrganisationKind]))
@click.option("--name", required=True, help="The organisation's name, as people see it.")
def organisations_add(key: str, kind: str, name: str) -> None:
    """Register an organisation; forms store its KEY."""
    from .directory import add_organisation

    try:
        add_organisation(_services(), key, kind=kind, name=name)
    except ServiceError as err:
        _fail(err)
    click.echo(f"created {key}", err=True)


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
def token_create(username: str) -> None:
    """Print a new API token for USERNAME, alone on stdout."""
    from .operations.users import create_token

    try:
        click.echo(create_token(_services(), username))
    except ServiceError as err:
        _fail(err)


@main.command()
@click.option("--password", default="samverkan", show_default=True, help="Password of every demo user.")
def demo(password: str) -> None:
    """Demo users (one per role), the routines deployed, and instances at various stages."""
    from .demo import load_demo

    for line in load_demo(_services(), password):
        click.echo(line)


@main.group()
def timers() -> None:
    """Durable timers."""


@timers.command("run-due")
def timers_run_due() -> None:
    """Fire every due timer once and exit."""
    from .operations.timers import due_clock, fire_due_timers

    services = _services()
    fired = fire_due_timers(services, due_clock(services))
    click.echo(f"fired {fired} timer(s)")


@main.group()
def retention() -> None:
    """Gallring: personal data of closed cases past their routine's retention."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
def retention_run(dry_run: bool) -> None:
    """Remove personal data from closed cases past retention (not those under a legal hold)."""
    from .operations.retention import run_retention

    try:
        report = run_retention(_services(), dry_run=dry_run)
    except ValueError as err:  # a bad SAMVERKAN_RETENTION
        _refuse(ValueError(f"SAMVERKAN_RETENTION: {err}"))
    for line in report.lines():
        click.echo(line)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Copy the SQLite database to PATH (a new file) while the service runs; PostgreSQL: pg_dump."""
    from .backup import BackupRefused
    from .backup import backup as backup_database

    try:
        written = backup_database(Config.from_env().database_url, path)
    except BackupRefused as err:
        _refuse(err)
    click.echo(f"backup written to {written}", err=True)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data (the service must be stopped).")
def restore(path: Path, force: bool) -> None:
    """Replace the SQLite database with the backup at PATH; the service must be stopped."""
    from .backup import BackupRefused
    from .backup import restore as restore_database

    try:
        target = restore_database(path, Config.from_env().database_url, force=force)
    except BackupRefused as err:
        _refuse(err)
    click.echo(f"restored {path} into {target}; run `samverkan db upgrade` if the backup is from an "
               "older version, then start the service", err=True)


def _refuse(err: Exception) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
