"""The readers' tasks: the welcome mail (sent on `mail`, swept for what a lost message
left), and forgetting the address hashes that click counting keeps briefly."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from newsletter.delivery import rate
from newsletter.readers import clicks, welcome

from . import database, settings


@shared_task
def send_welcome(subscriber_id: int) -> str:
    """On `mail`. Safe to run twice: the row's lease lets one worker send it. No
    Celery retries: a refusal for now is a retry time on the row, which the sweep honours."""
    limiter = rate.limiter(settings())  # the welcome shares the relay's budget with issues
    try:
        limiter.acquire()
    finally:
        limiter.close()
    return welcome.deliver(database(), settings(), subscriber_id)


@shared_task
def sweep_welcomes(pending_seconds: float = welcome.LOST_AFTER.total_seconds()) -> int:
    """Re-enqueue welcomes whose message was lost, whose retry is due, or whose worker died."""
    with database().session() as session:
        ids = welcome.lost(session, pending_for=timedelta(seconds=pending_seconds))
    for subscriber_id in ids:
        send_welcome.delay(subscriber_id)
    return len(ids)


@shared_task
def forget_click_sources() -> int:
    with database().session() as session:
        forgotten = clicks.forget_sources(session)
        session.commit()
    return forgotten
