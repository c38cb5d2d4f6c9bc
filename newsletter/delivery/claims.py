"""Claims: a worker takes due rows of one issue, keeps them under a lease, hands back
what it did not try (`ledger` records what it did).

`claim()` takes up to SEND_BATCH_SIZE due rows atomically with a lease (PostgreSQL:
FOR UPDATE SKIP LOCKED; SQLite serialises writers anyway), of one receiving-domain
group when asked (`delivery.groups`: a throttled group's rows wait in their own lane
while the others' batches keep flowing), re-checking that each subscriber is still
confirmed; `renew()` extends the lease of rows still in hand; `release()` gives
rows back untried. Every function takes a session and never commits.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session

from ..audience import recipients
from ..audience.models import Subscriber
from ..config import Settings
from ..db import utcnow
from ..issues.models import Issue, IssueStatus
from . import groups
from .models import Delivery, status_in
from .models import DeliveryStatus as D

_t = Delivery.__table__
_s = Subscriber.__table__
# A claim's rows with what their copies need, in id order; built once.
_IN_HAND = (
    select(_t.c.id, _t.c.subscriber_id, _t.c.attempts, _t.c.variant, _s.c.email, _s.c.unsubscribe_token,
           _s.c.manage_token, recipients.receiving().label("receiving"))
    .select_from(_t.outerjoin(_s, _s.c.id == _t.c.subscriber_id))
    .where(_t.c.issue_id == bindparam("b_issue"), status_in(D.SENDING),
           _t.c.lease_expires_at == bindparam("b_lease", type_=_t.c.lease_expires_at.type))
    .order_by(_t.c.id)
)


class Claimed(NamedTuple):
    """A claimed row and what its copy needs (a tuple: one is made per message)."""

    delivery_id: int
    subscriber_id: int
    email: str
    unsubscribe_token: str
    attempts: int
    manage_token: str
    variant: str = ""  # the category variant frozen for them ("" the whole issue)


@dataclass
class Claim:
    lease: datetime
    rows: list[Claimed] = field(default_factory=list)
    skipped: int = 0


def is_sending(session: Session, issue_id: int) -> bool:
    return session.scalar(select(Issue.status).where(Issue.id == issue_id)) == IssueStatus.SENDING


def claim(session: Session, settings: Settings, issue_id: int, now: datetime | None = None,
          group: str | None = None, limit: int | None = None) -> Claim | None:
    """Take up to SEND_BATCH_SIZE (or `limit`) due rows, of `group` if given, for
    this worker; None if the issue is not sending.

    Rows whose subscriber is no longer confirmed (unsubscribed or bounced since the
    snapshot) are marked `skipped` here, so they get no message.
    """
    now = now or utcnow()
    if not is_sending(session, issue_id):
        return None
    lease = now + timedelta(seconds=settings.send_lease_seconds)
    due = select(Delivery.id).where(
        Delivery.issue_id == issue_id,
        status_in(*D.WAITING),
        Delivery.next_attempt_at <= now,
    )
    if group == groups.OTHER and settings.pacing_groups:  # with rows of groups no longer configured
        due = due.where(Delivery.pacing_group.not_in([name for name, _ in settings.pacing_groups]))
    elif group is not None:
        due = due.where(Delivery.pacing_group == group)
    due = due.limit(min(limit or settings.send_batch_size, settings.send_batch_size)).with_for_update(skip_locked=True)
    conn = session.connection()  # Core rows: no ORM objects for a batch of hundreds
    taken = set(conn.scalars(
        update(_t)
        .where(_t.c.id.in_(due.scalar_subquery()))
        .values(status=D.SENDING, lease_expires_at=lease, attempts=_t.c.attempts + 1, updated_at=now)
        .returning(_t.c.id)
    ))
    result = Claim(lease=lease)
    if not taken:
        return result
    skipped = []
    # Read back by the lease, not by an IN list of every id taken; the ids decide
    # (another worker's claim could carry the same lease to the microsecond).
    for row in conn.execute(_IN_HAND, {"b_issue": issue_id, "b_lease": lease}):
        if row.id not in taken:
            continue
        if not row.receiving:  # left since the snapshot (or gone: the outer join gives NULL)
            skipped.append(row.id)
        else:
            result.rows.append(Claimed(row.id, row.subscriber_id, row.email, row.unsubscribe_token, row.attempts,
                                       row.manage_token, row.variant))
    if skipped:
        conn.execute(
            update(_t)
            .where(_t.c.id.in_(skipped))
            .values(status=D.SKIPPED, lease_expires_at=None, last_reply="no longer subscribed at send time",
                    updated_at=now)
        )
        result.skipped = len(skipped)
    return result


def renew(
    session: Session, settings: Settings, lease: datetime, delivery_ids: list[int], now: datetime | None = None
) -> datetime | None:
    """A new lease for the rows still held under `lease`, or None if none is (all
    recorded, or the sweeper took them back: the holder must not send them)."""
    renewed = (now or utcnow()) + timedelta(seconds=settings.send_lease_seconds)
    held = session.execute(update(_t).where(_t.c.id.in_(delivery_ids), _t.c.status == D.SENDING,
                                            _t.c.lease_expires_at == lease).values(lease_expires_at=renewed))
    return renewed if held.rowcount else None


def release(session: Session, lease: datetime, delivery_ids: list[int], now: datetime | None = None) -> None:
    """Hand claimed rows back untouched (the send paused before trying them)."""
    if not delivery_ids:
        return
    session.execute(
        update(_t)
        .where(_t.c.id.in_(delivery_ids), _t.c.status == D.SENDING, _t.c.lease_expires_at == lease)
        .values(
            status=case((_t.c.attempts > 1, D.DEFERRED.value), else_=D.PENDING.value),
            attempts=_t.c.attempts - 1,
            lease_expires_at=None,
            updated_at=now or utcnow(),
        )
    )
