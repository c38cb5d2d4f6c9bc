"""The bounce-rate guard: pause an issue whose hard bounces say the list is bad.

SES suspends an account whose bounce rate passes 5 %, and the big mailbox
providers throttle a sender long before; better to stop the send and let an
editor look. The rate is the issue's `bounced` rows (refused at RCPT, or bounced
later: `feedback` moves a row from `sent` through `ledger.bounced_after`) over the
rows tried (`sent` and `bounced`), checked once MIN_SAMPLE copies were tried so the
first few unlucky addresses pause nothing. Called by the engine after recording
bounces and by `feedback` after a late bounce.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..issues.models import Issue, IssueStatus
from . import control
from .models import Delivery
from .models import DeliveryStatus as D


def hard_bounce_rate(session: Session, issue_id: int) -> tuple[int, int]:
    """(bounced, tried) for the issue."""
    counts = dict(session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id, Delivery.status.in_((D.SENT, D.BOUNCED)))
        .group_by(Delivery.status)
    ).all())
    bounced = counts.get(D.BOUNCED, 0)
    return bounced, bounced + counts.get(D.SENT, 0)


def check(session: Session, settings: Settings, issue_id: int, status: str | None = None) -> str | None:
    """Pause the issue if it is sending and its hard-bounce rate passed MAX_BOUNCE_RATE;
    return the reason shown to editors, or None. `status`: the issue's, if the caller
    read it already (a finished issue's late bounce then costs no query here)."""
    if (status or session.scalar(select(Issue.status).where(Issue.id == issue_id))) != IssueStatus.SENDING:
        return None
    bounced, tried = hard_bounce_rate(session, issue_id)
    if tried < settings.bounce_rate_min_sample or bounced * 100 <= settings.max_bounce_rate * tried:
        return None
    reason = (f"paused automatically: {bounced} of {tried} messages hard-bounced ({bounced * 100 / tried:.1f} %), "
              f"over MAX_BOUNCE_RATE {settings.max_bounce_rate:g} %; clean the list before resuming")
    return reason if control.pause(session, issue_id, reason) else None
