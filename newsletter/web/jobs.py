"""The one door from a request to the workers: `after_commit(task, *args)`.

A view queues jobs while it works and they are sent once, right after its
session commits, so a worker never looks for a row that is not committed yet, and
a rolled-back request sends nothing. The broker is only a hint: if it cannot be
reached the job is logged and left to the sweepers that scan the database (the
confirmation outbox, the delivery sweeper, the due-scan), and the reader or
editor still gets the answer of a request that succeeded, never a 500 after a
commit.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import event

from .context import get_session

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    sessions = app.extensions["db"].sessionmaker
    event.listen(sessions, "after_commit", _flush)
    event.listen(sessions, "after_soft_rollback", _drop)
    app.teardown_request(_forget)


def after_commit(task, *args) -> None:
    """Send `task.delay(*args)` once the request's session has committed."""
    session = get_session()
    if not session.in_transaction():
        session.begin()  # no connection yet; it gives a rollback something to end, dropping the job
    g.setdefault("jobs", []).append((task, args))


def _is_request_session(session) -> bool:
    return has_request_context() and g.get("db_session") is session


def _flush(session) -> None:
    if not _is_request_session(session):
        return
    jobs, g.jobs = g.get("jobs", []), []
    for task, args in jobs:
        try:
            task.delay(*args)
        except Exception:  # noqa: BLE001 - any broker failure; the database still says what is due
            log.exception("could not enqueue %s%r; the sweepers will find the work", task.name, args)


def _drop(session, previous_transaction) -> None:
    if _is_request_session(session) and g.get("jobs"):
        log.info("rolled back: %d queued jobs dropped", len(g.jobs))
        g.jobs = []


def _forget(_exc: BaseException | None) -> None:
    jobs = g.pop("jobs", [])
    if jobs:
        current_app.logger.error("jobs queued but never committed (a view did not commit): %r",
                                 [task.name for task, _ in jobs])
