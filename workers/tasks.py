"""Celery tasks: thin. They take ids, open a session, call a service, commit.

Every task is safe to run twice (acks_late redelivers after a worker dies), because
the service re-checks in the database whether the work is still due.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app

from newsletter import mailer, subscriptions
from newsletter.db import get_db

log = logging.getLogger(__name__)


def _settings():
    return current_app.extensions["settings"]


@shared_task(
    autoretry_for=(mailer.MailError,),
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def send_confirmation(subscriber_id: int) -> bool:
    with get_db().session() as session:
        sent = subscriptions.send_confirmation_mail(session, _settings(), subscriber_id)
        session.commit()
    return sent


@shared_task
def resend_lost_confirmations() -> int:
    """Re-enqueue confirmation mails the broker lost (or that failed every retry)."""
    with get_db().session() as session:
        ids = subscriptions.confirmations_lost(session, older_than=timedelta(minutes=2))
    for subscriber_id in ids:
        send_confirmation.delay(subscriber_id)
    return len(ids)


@shared_task
def purge_unconfirmed() -> int:
    days = _settings().purge_unconfirmed_after_days
    with get_db().session() as session:
        purged = subscriptions.purge_unconfirmed(session, timedelta(days=days))
        session.commit()
    if purged:
        log.info("purged %d unconfirmed subscribers older than %d days", purged, days)
    return purged
