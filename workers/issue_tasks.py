"""The weekly issue's periodic tasks: keep the draft up to date, start due issues.

Thin, like every task: open a session, call the service, commit, and only after
the commit hand started issues to the delivery engine.
"""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from newsletter import digest, scheduling
from newsletter.db import get_db
from newsletter.previews import freezer

log = logging.getLogger(__name__)


def delivery_available() -> bool:
    """Whether the delivery engine is installed; until it is, nothing may start."""
    try:
        from workers.delivery_tasks import dispatch_issue  # noqa: F401
    except ImportError:
        return False
    return True


def hand_off(issue_id: int) -> None:
    """The one call into the delivery engine, made after `sending` is committed."""
    from workers.delivery_tasks import dispatch_issue

    dispatch_issue.delay(issue_id)


@shared_task
def refresh_draft() -> int:
    with get_db().session() as session:
        result = digest.refresh_draft(session)
        number = result.issue.number
        session.commit()
    if result.skipped is not None:
        log.info("issue #%s skipped: %s", result.skipped.number, result.skipped.skip_reason)
    return number


@shared_task
def start_due_issues() -> list[int]:
    if not delivery_available():
        log.warning("delivery engine not installed: due issues stay scheduled")
        return []
    settings = current_app.extensions["settings"]
    with get_db().session() as session:
        started = scheduling.start_due(session, freezer(settings))
        session.commit()
    for issue_id in started:
        try:
            hand_off(issue_id)
        except Exception:  # noqa: BLE001 - one broker hiccup must not strand the other issues
            log.exception("issue %s is sending but could not be handed to delivery", issue_id)
    if started:
        # The upcoming slot is free again: draft the next issue now, not in a minute.
        refresh_draft.delay()
    return started
