"""The audience's tasks: the confirmation outbox, the purge of unconfirmed readers,
and uploaded imports.

The subscribe request publishes nothing: its outbox row is the hint. The relay
(`start_relay`, a thread of the scheduler: one per deployment) scans the
rows asked for in the last minutes every RELAY_INTERVAL seconds and hands each to
`send_confirmation` on the `mail` queue once; the sweeper below re-enqueues what
is still unsent after two minutes (a lost message, a relay that was down).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Callable

from celery import shared_task
from celery.signals import beat_init

from newsletter.audience import importing, outbox, subscriptions
from newsletter.audience.models import ImportStatus, SubscriberImport
from newsletter.db import utcnow
from newsletter.delivery import rate

from . import database, run_relay, settings

log = logging.getLogger(__name__)


@shared_task
def send_confirmation(subscriber_id: int) -> str:
    """No Celery retries: a refusal for now is a retry time on the row, which the
    sweeper below honours; one for good suppresses the address."""
    limiter = rate.limiter(settings())  # confirmations share the relay's budget with issues
    try:
        limiter.acquire()
    finally:
        limiter.close()
    with database().session() as session:
        result = outbox.send_confirmation_mail(session, settings(), subscriber_id)
        session.commit()
    if result == outbox.Sent.LATER:
        log.info("confirmation mail to subscriber %s refused for now; it backs off", subscriber_id)
    return result.value


@shared_task
def resend_lost_confirmations() -> int:
    """Re-enqueue confirmation mails the broker lost (or that failed every retry)."""
    with database().session() as session:
        ids = outbox.confirmations_lost(session, older_than=timedelta(minutes=2))
    for subscriber_id in ids:
        send_confirmation.delay(subscriber_id)
    return len(ids)


@shared_task
def purge_unconfirmed() -> int:
    days = settings().purge_unconfirmed_after_days
    with database().session() as session:
        purged = subscriptions.purge_unconfirmed(session, timedelta(days=days))
        session.commit()
    if purged:
        log.info("purged %d unconfirmed subscribers older than %d days", purged, days)
    return purged


@shared_task
def import_subscribers(import_id: int) -> str:
    """An uploaded CSV: committed after every batch, so the editor's page shows
    progress. A redelivered message finds the import finished and does nothing."""
    with database().session() as session:
        record = session.get(SubscriberImport, import_id)
        if record is None or record.status in ImportStatus.FINISHED:
            return "not due"
        importing.process(session, settings().secret_key, record, after_batch=lambda rows: session.commit())
        session.commit()
        return record.status


RELAY_INTERVAL = 0.2  # seconds between scans: about how long a new request waits
RELAY_WINDOW = timedelta(minutes=3)  # older requests are the sweeper's (two minutes)
PUBLISHED_FOR = 120.0  # seconds a handed-over request is not handed over again


def confirmations_scan(app) -> Callable[[], None]:
    """One scan of the relay: hand each newly requested confirmation mail to the
    workers, once. `app` is the Flask app (for its database)."""
    db = app.extensions["db"]
    published: dict[int, float] = {}

    def scan() -> None:
        nonlocal published
        with db.session() as session:
            due = outbox.confirmations_requested(session, utcnow() - RELAY_WINDOW)
        now = time.monotonic()
        published = {sid: at for sid, at in published.items() if now - at < PUBLISHED_FOR}
        for subscriber_id in due:
            if subscriber_id not in published:
                send_confirmation.delay(subscriber_id)
                published[subscriber_id] = now

    return scan


def start_relay(app) -> Callable[[], None]:
    """Run the confirmation relay in a daemon thread; the returned function stops it and waits."""
    return run_relay("confirmation-relay", confirmations_scan(app), RELAY_INTERVAL)


@beat_init.connect
def _relay_in_the_scheduler(sender, **_kwargs) -> None:
    start_relay(sender.app.flask_app)
