"""`newsletter dev`: the whole service on one machine with no services installed.

SQLite for data, kombu's SQLAlchemy transport on SQLite as the broker, the built-in
mail catcher, one worker and the scheduler as child processes, and Flask's server in
this one. Everything a newcomer needs to see the service work, in a minute.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from werkzeug.serving import make_server

from ..config import apply_dev_defaults, load_settings

STARTUP_SECONDS = 3.0


def prepare_broker(celery) -> None:
    """Make the embedded broker's tables and its queues' rows now, once. kombu's
    SQLAlchemy transport looks a queue up and inserts it if missing: a worker and
    the scheduler declaring `mail` at the same moment both insert it, and the loser
    dies of the UNIQUE constraint (seen as `newsletter dev` stopping at start)."""
    from workers import QUEUES

    with celery.connection_for_write() as conn:
        for queue in QUEUES:
            conn.default_channel.queue_declare(queue=queue)


def run_dev(port: int, smtp_port: int, instance: str) -> None:
    instance_dir = Path(instance).resolve()
    instance_dir.mkdir(parents=True, exist_ok=True)
    env = apply_dev_defaults(instance_dir, port=port, smtp_port=smtp_port)
    settings = load_settings(env)

    from .. import create_app
    from ..db import Database
    from ..migrate import upgrade
    from . import demo
    from .catcher import MailCatcher

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    with db.session() as session:
        loaded = demo.load(session)
        session.commit()
    db.dispose()

    try:
        catcher = MailCatcher(settings.mail_catcher_dir, port=settings.smtp_port).start()
    except OSError as exc:
        raise click.ClickException(
            f"the mail catcher cannot listen on port {settings.smtp_port} ({exc.strerror}): "
            "pass --smtp-port with a free port"
        ) from None
    app = create_app(settings)
    prepare_broker(app.extensions["celery"])
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "--quiet", "-A", "workers.celery_app", "worker",
             "-Q", "mail,bulk,default", "--concurrency", "2", "--loglevel", "WARNING", "-n", "dev@%h"],
            env=env,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "celery", "--quiet", "-A", "workers.celery_app", "beat",
             "--loglevel", "WARNING", "--schedule", str(instance_dir / "celerybeat-schedule")],
            env=env,
        ),
    ]

    stopped = []

    def stop(*_args):
        if stopped:
            return
        stopped.append(True)
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        catcher.stop()

    def on_sigterm(*_args):
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server = make_server("127.0.0.1", port, app, threaded=True)
    except OSError as exc:
        stop()
        raise click.ClickException(f"the web app cannot listen on port {port} ({exc.strerror}): "
                                   "pass --port with a free port") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    time.sleep(STARTUP_SECONDS)  # let the children print whatever they print first
    base = settings.base_url
    click.echo(
        "\n"
        f"  Weekly AI Tool Verdicts is running on embedded defaults ({loaded}).\n"
        f"  Subscribe:    {base}/subscribe\n"
        f"  Mail inbox:   {base}/inbox/\n"
        f"  Editors:      {base}/editor/login\n"
        f"  SMTP catcher: 127.0.0.1:{catcher.port}   data: {instance_dir}\n"
        f"  Other commands (newsletter status, import, create-editor) run from this folder use this\n"
        f"  instance: its settings are in {instance_dir / '.env'}.\n"
        "  Ctrl-C stops everything.\n"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        click.echo("a worker or the scheduler stopped; stopping everything", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        stop()
