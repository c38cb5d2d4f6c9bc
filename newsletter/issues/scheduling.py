"""Scheduling by editors, and the due-scan that starts issues.

The scheduler scans the database each minute instead of using Celery ETAs: with
Redis an ETA task is redelivered after the visibility timeout and would run
twice. Every state change is a conditional UPDATE through `lifecycle.move`, so
two schedulers, or a scheduler and an editor, can never both win.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import utcnow
from ..mail.rendering import RenderError
from . import lifecycle
from .content import load_issue
from .models import Issue, IssueStatus
from .preview import build_preview
from .rendering import frozen_content
from .slots import SchedulingError, get_schedule, next_slot

log = logging.getLogger(__name__)
# "Send now" and a time typed for this very minute are fine; earlier is a mistake.
PAST_GRACE = timedelta(minutes=1)


def schedule(
    session: Session, issue: Issue, when: datetime, settings: Settings, *, override: bool = False,
    failing: list[str] | None = None, now: datetime | None = None,
) -> None:
    """Schedule (or reschedule) the issue for `when` (UTC); "send now" is `when=now`.

    The pre-flight checks gate it: a failing one refuses, unless the editor overrides.
    `failing` is what the caller's checks found over every variant that will be sent
    (`readers.previews.preflight`: this package cannot see the audience's categories);
    by default the whole issue's.
    """
    now = now or utcnow()
    if when < now - PAST_GRACE:
        raise SchedulingError("that time has passed; pick a time in the future or send now")
    if failing is None:
        failing = build_preview(issue, settings).failing
    if failing and not override:
        raise SchedulingError("fix the failing checks first, or tick the box to send anyway. " + " ".join(failing))
    if not lifecycle.move(session, issue.id, "schedule", scheduled_at=when, checks_overridden=bool(failing),
                          updated_at=now):
        raise SchedulingError("sending has already started; it can no longer be rescheduled")
    session.refresh(issue)


def cancel(session: Session, issue: Issue, now: datetime | None = None) -> None:
    """Back to draft, planned for the next weekly slot, unless the scheduler got there first."""
    now = now or utcnow()
    if not lifecycle.move(session, issue.id, "unschedule", checks_overridden=False, updated_at=now,
                          scheduled_at=next_slot(get_schedule(session), now)):
        raise SchedulingError("only a scheduled issue can be cancelled, before sending starts")
    session.refresh(issue)


def due_issue_ids(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Issue.id)
            .where(Issue.status == IssueStatus.SCHEDULED, Issue.scheduled_at <= now)
            .order_by(Issue.scheduled_at)
        )
    )


def start_due(session: Session, settings: Settings, now: datetime | None = None) -> list[int]:
    """Move every due issue from scheduled to sending; return the ids this call moved.

    Each issue is rendered and the content frozen in the same conditional UPDATE
    that starts it; an issue with nothing to send is skipped; one that cannot be
    rendered stays scheduled (the editor sees the same error on the preview). If
    another scheduler, or an editor's edit or cancel, changed the row after it was
    read here, the UPDATE matches nothing and this call moves nothing. The caller
    commits, and only then hands the ids to delivery.
    """
    now = now or utcnow()
    started = []
    for issue_id in due_issue_ids(session, now):
        issue = load_issue(session, issue_id)
        if issue is None:
            continue
        unchanged = (Issue.updated_at == issue.updated_at, Issue.status == IssueStatus.SCHEDULED)
        try:
            content = frozen_content(issue, settings)
        except RenderError as exc:
            log.error("issue #%s is due but cannot be rendered: %s", issue.number, exc)
            continue
        if content is None:
            lifecycle.move(session, issue_id, "skip", where=unchanged, finished_at=now,
                           skip_reason="Nothing to send: the issue had no comparisons at its send time.")
        elif lifecycle.move(session, issue_id, "start", where=unchanged, sending_started_at=now, updated_at=now,
                            **content):
            started.append(issue_id)
    return started
