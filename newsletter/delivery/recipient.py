"""What delivery holds about one person: which issues they got and how each ended,
and forgetting it when they are erased.

An erased person's delivery rows are not deleted: an issue's counts (sent,
bounced, failed) must stay what they were. They lose the link to the person
(`subscriber_id` NULL) and the relay's reply, which often quotes the address;
open rows are skipped, so nothing more is sent to an erased address, and a worker
holding one in a claim finds its lease guard gone and writes no reply back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..audience import erasure
from ..db import utcnow
from ..issues.models import Issue
from .models import Delivery
from .models import DeliveryStatus as D

ERASED_REPLY = "(erased at the subscriber's request)"


@dataclass(frozen=True)
class Received:
    issue_id: int
    number: int
    subject: str
    status: str
    attempts: int
    sent_at: datetime | None
    updated_at: datetime
    reply: str


def history(session: Session, subscriber_id: int, limit: int = 200) -> list[Received]:
    """Their copy of each issue, newest issue first."""
    rows = session.execute(
        select(Issue.id, Issue.number, Issue.rendered_subject, Issue.subject, Delivery.status, Delivery.attempts,
               Delivery.sent_at, Delivery.updated_at, Delivery.last_reply)
        .join(Issue, Issue.id == Delivery.issue_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Issue.number.desc())
        .limit(limit)
    )
    return [Received(r.id, r.number, r.rendered_subject or r.subject, r.status, r.attempts, r.sent_at,
                     r.updated_at, r.last_reply) for r in rows]


def forget(session: Session, subscriber_id: int, now: datetime | None = None) -> int:
    """Anonymise the person's delivery rows; return how many there were."""
    now = now or utcnow()
    waiting = session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status.in_(D.OPEN))
        .values(status=D.SKIPPED, lease_expires_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    kept = session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id)
        .values(subscriber_id=None, last_reply=ERASED_REPLY, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    return max(waiting, kept)


def erase_person(session: Session, secret_key: str, subscriber_id: int, requested_by: str,
                 now: datetime | None = None) -> bool:
    """Erase the subscriber everywhere: delivery's rows first, then the person
    (`audience.erasure.erase`). False if there was no such subscriber."""
    now = now or utcnow()
    forget(session, subscriber_id, now)
    return erasure.erase(session, secret_key, subscriber_id, requested_by, now)
