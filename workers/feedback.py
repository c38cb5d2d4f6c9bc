"""Feedback's task: apply what the ways in stored in the feedback inbox.

Nothing that stores an entry publishes anything: the entry is the hint. The relay
(`feedback_scan`, run by a thread of the scheduler like the confirmation relay) looks
for waiting entries every RELAY_INTERVAL seconds and hands `apply_feedback` to a
worker, at most once per PUBLISH_EVERY; the task drains the inbox in sets until it
is empty, one commit per set, so under a flood one task keeps up and a second one
(started by the next hint) shares the work by skipping the rows the first holds.
"""
from __future__ import annotations

import time
from typing import Callable

from celery import shared_task
from celery.signals import beat_init

from newsletter.feedback import inbox

from . import database, run_relay, settings

RELAY_INTERVAL = 0.2
PUBLISH_EVERY = 0.5  # seconds: while one task drains, the hint is sent no more often
DRAIN_SECONDS = 60.0  # a task hands over to the next hint after this long


@shared_task
def apply_feedback() -> int:
    """Apply waiting entries in sets until none is left (or DRAIN_SECONDS passed)."""
    return drain(database(), settings()).applied


def drain(db, config, seconds: float = DRAIN_SECONDS) -> inbox.Drained:
    """The task's loop, one set per commit (the tests drain with it too)."""
    total, started = inbox.Drained(0, 0), time.monotonic()
    while time.monotonic() - started < seconds:
        with db.session() as session:
            drained = inbox.apply_waiting(session, config)
            session.commit()
        total = inbox.Drained(total.applied + drained.applied, total.failed + drained.failed)
        if drained.applied + drained.failed < inbox.APPLY_BATCH:
            break
    return total


def feedback_scan(app) -> Callable[[], None]:
    """One scan of the relay: hand `apply_feedback` to the workers while entries wait,
    at most once per PUBLISH_EVERY."""
    db = app.extensions["db"]
    last = 0.0

    def scan() -> None:
        nonlocal last
        if time.monotonic() - last < PUBLISH_EVERY:
            return
        with db.session() as session:
            due = inbox.waiting(session)
        if due:
            apply_feedback.delay()
            last = time.monotonic()

    return scan


@beat_init.connect
def _relay_in_the_scheduler(sender, **_kwargs) -> None:
    run_relay("feedback-relay", feedback_scan(sender.app.flask_app), RELAY_INTERVAL)
