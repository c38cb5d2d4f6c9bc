"""The audience as sending sees it: who receives an issue.

Delivery snapshots the audience with `snapshot_rows()` inside its own INSERT …
SELECT, and re-reads each claimed recipient against `receiving()` in the claim's
own join, so a person who left since the snapshot is skipped, not mailed.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from .models import Subscriber, SubscriberStatus


def receiving() -> ColumnElement[bool]:
    """Who receives issues now, as a condition on `Subscriber`."""
    return Subscriber.status.in_(SubscriberStatus.RECEIVING)


def receiving_ids() -> Select:
    """SELECT of the ids of everyone who receives issues now."""
    return select(Subscriber.id).where(receiving())


def snapshot_rows() -> Select:
    """SELECT of (id, categories) of everyone who receives issues now, grouped by their
    category set: delivery copies the set (the variant they get) into each row, and
    rows numbered set by set put few variants in each batch it claims."""
    return select(Subscriber.id, Subscriber.categories).where(receiving()).order_by(Subscriber.categories,
                                                                                   Subscriber.id)


def receiving_count(session: Session) -> int:
    """How many an issue would go to if it went now: what editors are told before sending."""
    return session.scalar(select(func.count()).select_from(receiving_ids().subquery())) or 0
