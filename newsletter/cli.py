"""The `newsletter` command: run each part of the service, and manage it."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .config import ConfigError, load_settings


def _settings():
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@click.group()
def main() -> None:
    """Weekly AI Tool Verdicts: the newsletter service."""


@main.command()
def migrate() -> None:
    """Apply database migrations (Alembic) up to the newest."""
    from .migrate import upgrade

    upgrade(_settings().database_url)
    click.echo("database is up to date")


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
def web(bind: str, workers: int) -> None:
    """Run the web app under gunicorn."""
    _settings()  # fail here, naming the bad setting, not in every gunicorn worker
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
         "--access-logfile", "-", "newsletter.wsgi:app"],
    )


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--queues", "-Q", default="mail,bulk,default", show_default=True)
@click.option("--concurrency", "-c", default=None, type=int)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(queues: str, concurrency: int | None, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (as many as you like, on as many machines)."""
    _settings()
    args = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queues,
            "--loglevel", "INFO"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    os.execvp(sys.executable, args + list(celery_args))


@main.command()
@click.option("--schedule-file", default="celerybeat-schedule", show_default=True)
def scheduler(schedule_file: str) -> None:
    """Run the scheduler (celery beat): periodic scans of the database. Run one."""
    _settings()
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
         "--schedule", schedule_file],
    )


@main.command()
@click.option("--port", default=5000, show_default=True)
@click.option("--smtp-port", default=1025, show_default=True)
@click.option("--instance", default="instance", show_default=True, help="folder for the SQLite files and mail")
def dev(port: int, smtp_port: int, instance: str) -> None:
    """Run everything on embedded defaults: SQLite, a serverless broker, a mail catcher."""
    from .devserver import run_dev

    run_dev(port=port, smtp_port=smtp_port, instance=instance)


@main.command("purge-unconfirmed")
def purge_unconfirmed_command() -> None:
    """Delete subscribers who never confirmed (the scheduler also does this hourly)."""
    from datetime import timedelta

    from . import subscriptions
    from .db import Database

    settings = _settings()
    db = Database(settings.database_url)
    with db.session() as session:
        count = subscriptions.purge_unconfirmed(session, timedelta(days=settings.purge_unconfirmed_after_days))
        session.commit()
    click.echo(f"purged {count} unconfirmed subscribers")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_command(paths: tuple[Path, ...]) -> None:
    """Import comparisons: pages (.txt), JSON (.json), or folders of them."""
    from .db import Database
    from .importer import import_paths

    settings = _settings()
    db = Database(settings.database_url)
    try:
        summary = import_paths(db, settings, paths)
    finally:
        db.dispose()
    click.echo(summary.line())
    if summary.rejected:
        sys.exit(1)


def _session():
    from .db import Database

    return Database(_settings().database_url).session()


@main.command("create-editor")
@click.argument("email")
@click.password_option(prompt="Password (at least 10 characters)")
def create_editor_command(email: str, password: str) -> None:
    """Create an editor account; asks for the password twice, without echo."""
    from .editors import EditorError, create_editor

    with _session() as session:
        try:
            editor = create_editor(session, email, password)
        except EditorError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"editor {editor.email} created")


@main.command("list-editors")
def list_editors_command() -> None:
    """List the editor accounts and when each last logged in."""
    from .editors import list_editors

    with _session() as session:
        for editor in list_editors(session):
            last = editor.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if editor.last_login_at else "never"
            click.echo(f"{editor.email}\tlast login: {last}")


@main.command("remove-editor")
@click.argument("email")
def remove_editor_command(email: str) -> None:
    """Remove an editor account; their open sessions end with it."""
    from .editors import remove_editor

    with _session() as session:
        if not remove_editor(session, email):
            raise click.ClickException(f"no editor {email}")
        session.commit()
    click.echo(f"editor {email} removed")


@main.command("draft")
def draft_command() -> None:
    """Run the draft step now: make or update the one upcoming issue."""
    from .digest import included_items, refresh_draft

    with _session() as session:
        result = refresh_draft(session)
        session.commit()
        if result.skipped is not None:
            click.echo(f"issue #{result.skipped.number} skipped: {result.skipped.skip_reason}")
        issue = result.issue
        click.echo(f"issue #{issue.number} ({issue.status}): {len(included_items(issue))} comparisons, "
                   f"{result.added} added now")


@main.command("status")
@click.argument("issue_id", required=False, type=int)
@click.option("--watch", "-w", is_flag=True, help="follow a send live until it ends")
def status_command(issue_id: int | None, watch: bool) -> None:
    """Delivery of an issue (default: the latest): progress bar, counts, then the report."""
    from .db import Database
    from .delivery_cli import show_status

    show_status(Database(_settings().database_url), issue_id, watch)


if __name__ == "__main__":
    main()
