"""The `newsletter` command: run each part of the service, and manage it.

This module runs the service's processes; the commands that manage content and
delivery live beside it, one module per feature, and are added to the group here.
"""
from __future__ import annotations

import os
import sys

import click

from . import audience, content, delivery, feedback
from .common import settings as _settings


@click.group()
def main() -> None:
    """Weekly AI Tool Verdicts: the newsletter service."""


@main.command()
def migrate() -> None:
    """Apply database migrations (Alembic) up to the newest."""
    from ..migrate import upgrade

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
    from ..dev.server import run_dev

    run_dev(port=port, smtp_port=smtp_port, instance=instance)


for command in (*audience.COMMANDS, *content.COMMANDS, *delivery.COMMANDS, *feedback.COMMANDS):
    main.add_command(command)
