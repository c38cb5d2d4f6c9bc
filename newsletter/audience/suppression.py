"""Who must not be mailed again: addresses the receiving side refused for good, and
readers who reported us as spam.

The one place that writes a suppression (`bounced`, `complained`), whoever learnt
of it: the delivery engine at RCPT, or `feedback` from a bounce or complaint that
came back later; only a new opt-in by the address's owner lifts it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Subscriber, SubscriberStatus

_s = Subscriber.__table__


def mark_bounced(session: Session, bounces: list[tuple[int, str]], now: datetime | None = None) -> None:
    """Suppress each (subscriber id, reason) whose address hard-bounced, in one
    executemany; only a receiving subscriber moves (a repeat changes nothing)."""
    if not bounces:
        return
    now = now or utcnow()
    session.connection().execute(
        update(_s)
        # executemany takes no IN list: one comparison per receiving status instead
        .where(_s.c.id == bindparam("b_sub"), or_(*(_s.c.status == status for status in SubscriberStatus.RECEIVING)))
        .values(status=SubscriberStatus.BOUNCED, bounced_at=now, bounce_reason=bindparam("b_reason"), updated_at=now),
        [{"b_sub": subscriber_id, "b_reason": reason[:500]} for subscriber_id, reason in bounces],
    )


def refuse_confirmation(session: Session, subscriber_id: int, reason: str, now: datetime | None = None) -> bool:
    """The receiving server refused the confirmation mail for good: the address is
    suppressed instead of retried, until its owner asks again."""
    now = now or utcnow()
    return bool(session.execute(
        update(_s)
        .where(_s.c.id == subscriber_id, _s.c.status == SubscriberStatus.PENDING)
        .values(status=SubscriberStatus.BOUNCED, bounced_at=now, bounce_reason=reason[:500], confirm_nonce="",
                updated_at=now)
    ).rowcount)


def mark_complained(session: Session, subscriber_id: int, now: datetime | None = None) -> bool:
    """The reader reported a mail as spam: never mail them again, whatever their state,
    until they opt in again. False if they were already marked (a repeat)."""
    now = now or utcnow()
    return bool(session.execute(
        update(_s)
        .where(_s.c.id == subscriber_id, _s.c.status != SubscriberStatus.COMPLAINED)
        .values(status=SubscriberStatus.COMPLAINED, unsubscribed_at=now, confirm_nonce="", updated_at=now)
    ).rowcount)
