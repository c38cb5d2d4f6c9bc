"""The audience's tasks: the confirmation outbox, the purge of unconfirmed readers,
and uploaded imports."""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from newsletter.audience import importing, outbox, subscriptions
from newsletter.audience.models import ImportStatus, SubscriberImport
from newsletter.delivery import rate

from . import database, settings

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
