"""Celery, set up the way Flask's own Celery example does, and the thin tasks.

`celery_init_app(app)` builds the Celery app from the Flask app's settings and runs
every task inside an app context, so tasks reach the database and settings the same
way views do. `workers.celery_app` is the entry point for `celery -A`.

One module of tasks per feature (`audience`, `issues`, `delivery`), each task thin:
ids in, open a session, call a service, commit, and only then enqueue what follows.
The database is the truth and the broker a hint, so every task is safe to run twice.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from celery import Celery, Task
from flask import Flask, current_app

from newsletter.config import Settings
from newsletter.db import Database

from .schedule import beat_schedule

log = logging.getLogger(__name__)

# Queues: `mail` is for transactional mail (confirmations, test sends) so it never
# waits behind a weekly send on `bulk`; `default` is housekeeping.
QUEUES = ("mail", "bulk", "default")


def celery_init_app(app: Flask) -> Celery:
    settings = app.extensions["settings"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    if settings.uses_redis_broker:
        transport_options = {
            # Well above the longest task time limit, so Redis never redelivers a
            # task that is still running (which would run it twice).
            "visibility_timeout": 3600,
        }
        if settings.redis_key_prefix != "newsletter":
            # Several deployments (or test runs) can share one Redis.
            transport_options["global_keyprefix"] = f"{settings.redis_key_prefix}:"
    else:
        # kombu's SQLAlchemy transport hands these to create_engine: wait for the
        # SQLite lock rather than fail when web, worker and beat write at once.
        transport_options = {"connect_args": {"timeout": 30}}
    celery.conf.update(
        broker_url=settings.celery_broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=600,
        task_soft_time_limit=540,
        task_default_queue="default",
        task_routes={
            "workers.audience.send_confirmation": {"queue": "mail"},
            "workers.issues.send_test": {"queue": "mail"},
            "workers.readers.send_welcome": {"queue": "mail"},
            "workers.delivery.send_batch": {"queue": "bulk"},
        },
        beat_schedule=beat_schedule(),
        timezone="UTC",
        include=["workers.audience", "workers.issues", "workers.delivery", "workers.readers", "workers.feedback"],
    )
    celery.set_default()
    celery.flask_app = app  # for the scheduler's confirmation relay (`workers.audience`)
    app.extensions["celery"] = celery
    return celery


def database() -> Database:
    """The app's database, for a task (tasks run inside the app context)."""
    return current_app.extensions["db"]


def settings() -> Settings:
    return current_app.extensions["settings"]


def run_relay(name: str, scan: Callable[[], None], interval: float) -> Callable[[], None]:
    """Run `scan` every `interval` seconds in a daemon thread of the scheduler: a relay
    that turns rows the database says are due into hints on the broker. A scan that
    raises (a database or broker outage) is logged and the next one comes 5 s later.
    The returned function stops the thread and waits for it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                scan()
            except Exception:  # noqa: BLE001 - an outage: the next scan tries again
                log.exception("%s: scan failed; trying again", name)
                stop.wait(5)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()

    def stop_relay() -> None:
        stop.set()
        thread.join(30)

    return stop_relay
