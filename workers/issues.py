"""The weekly issue's tasks: keep the draft up to date, start due issues, test sends.

Thin, like every task: open a session, call the service, commit, and only after
the commit hand started issues to the delivery engine.
"""
from __future__ import annotations

import logging

from celery import shared_task

from newsletter.issues import drafts, scheduling, testsend

from . import database, settings
from .delivery import dispatch_issue

log = logging.getLogger(__name__)


@shared_task
def refresh_draft() -> int:
    with database().session() as session:
        result = drafts.refresh_draft(session)
        number = result.issue.number
        session.commit()
    if result.skipped is not None:
        log.info("issue #%s skipped: %s", result.skipped.number, result.skipped.skip_reason)
    return number


@shared_task
def start_due_issues() -> list[int]:
    with database().session() as session:
        started = scheduling.start_due(session, settings())
        session.commit()
    for issue_id in started:
        try:
            dispatch_issue.delay(issue_id)
        except Exception:  # noqa: BLE001 - one broker hiccup must not strand the other issues
            log.exception("issue %s is sending but could not be handed to delivery; the sweeper will", issue_id)
    if started:
        # The upcoming slot is free again: draft the next issue now, not in a minute.
        refresh_draft.delay()
    return started


@shared_task
def send_test(issue_id: int, addresses: list[str]) -> dict[str, str]:
    """On the `mail` queue, so a test never waits behind a weekly send."""
    with database().session() as session:
        outcomes = testsend.send_test(session, settings(), issue_id, addresses)
    return {address: outcome.verdict.value for address, outcome in outcomes.items()}
