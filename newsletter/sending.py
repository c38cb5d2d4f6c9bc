"""Delivery bookkeeping: the database side of sending an issue.

The `deliveries` table is the truth about who has the issue; Celery messages are
only hints that rows are due. Every function here takes a session and never
commits, so a caller can make each step one short transaction:

- `start()` snapshots the confirmed audience in ONE statement (INSERT ... SELECT,
  duplicates ignored), so a second dispatch adds nobody twice;
- `claim()` takes a batch of due rows atomically with a lease (PostgreSQL: FOR
  UPDATE SKIP LOCKED; SQLite serialises writers anyway), re-checking that each
  subscriber is still confirmed;
- `record()` writes a batch of SMTP outcomes with executemany, guarded by the
  lease, so a worker whose lease expired cannot overwrite a newer claim;
- `sweep()` hands back rows whose worker died and finds issues needing a dispatch.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session

from .config import Settings
from .db import insert_for, utcnow
from .models import Delivery, DeliveryStatus, Issue, IssueStatus, Subscriber, SubscriberStatus
from .outbound import IssueContent

D = DeliveryStatus
OPEN = (D.PENDING, D.SENDING, D.DEFERRED)  # rows that still owe the subscriber the issue
_t = Delivery.__table__


class DeliveryError(ValueError):
    """An editor action that does not fit the issue's state; the message says why."""


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscriber_id: int
    email: str
    unsubscribe_token: str
    attempts: int


@dataclass
class Claim:
    lease: datetime
    rows: list[Claimed] = field(default_factory=list)
    skipped: int = 0


@dataclass(frozen=True)
class Outcome:
    """What to write for one claimed row."""

    delivery_id: int
    subscriber_id: int
    attempts: int
    status: str  # sent, deferred, bounced or failed
    reply: str


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before retry number `attempts`: exponential, capped, with ±25 % jitter."""
    delay = settings.send_retry_base_seconds * 2 ** max(attempts - 1, 0)
    return min(delay, settings.send_retry_max_seconds) * random.uniform(0.75, 1.25)


def issue_content(session: Session, issue_id: int) -> IssueContent | None:
    row = session.execute(
        select(Issue.rendered_subject, Issue.subject, Issue.html, Issue.text).where(Issue.id == issue_id)
    ).one_or_none()
    if row is None:
        return None
    return IssueContent(issue_id, row.rendered_subject or row.subject, row.html, row.text)


def _lock_issue(session: Session, issue_id: int) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())


def start(session: Session, issue_id: int, now: datetime | None = None) -> int:
    """Snapshot the audience if this issue has none yet; return the rows added.

    Only for an issue in `sending`. The issue row is locked (PostgreSQL) so two
    dispatches take turns; ON CONFLICT DO NOTHING keeps it exactly once anyway.
    """
    now = now or utcnow()
    issue = _lock_issue(session, issue_id)
    if issue is None or issue.status != IssueStatus.SENDING:
        return 0
    if session.scalar(select(exists().where(Delivery.issue_id == issue_id))):
        return 0
    if issue.sending_started_at is None:
        issue.sending_started_at = now
    def const(name, value, column):
        return bindparam(name, value, type_=column.type)

    audience = select(
        const("issue_id", issue_id, Delivery.issue_id),
        Subscriber.id,
        const("status", D.PENDING.value, Delivery.status),
        const("attempts", 0, Delivery.attempts),
        const("due", now, Delivery.next_attempt_at),
        const("reply", "", Delivery.last_reply),
        const("updated", now, Delivery.updated_at),
    ).where(Subscriber.status == SubscriberStatus.CONFIRMED)
    stmt = insert_for(session)(Delivery).from_select(
        ["issue_id", "subscriber_id", "status", "attempts", "next_attempt_at", "last_reply", "updated_at"], audience
    ).on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
    added = session.execute(stmt).rowcount or 0
    if added == 0:
        finish_if_done(session, issue_id, now)  # nobody to send to
    return added


def is_sending(session: Session, issue_id: int) -> bool:
    return session.scalar(select(Issue.status).where(Issue.id == issue_id)) == IssueStatus.SENDING


def due_count(session: Session, issue_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    return session.scalar(
        select(func.count()).where(
            Delivery.issue_id == issue_id,
            Delivery.status.in_((D.PENDING, D.DEFERRED)),
            Delivery.next_attempt_at <= now,
        )
    ) or 0


def next_due_at(session: Session, issue_id: int) -> datetime | None:
    """When the earliest deferred row of the issue is due (None if none is)."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.issue_id == issue_id, Delivery.status.in_((D.PENDING, D.DEFERRED))
        )
    )


def claim(session: Session, settings: Settings, issue_id: int, now: datetime | None = None) -> Claim | None:
    """Take up to SEND_BATCH_SIZE due rows for this worker; None if the issue is not sending.

    Rows whose subscriber is no longer confirmed (unsubscribed or bounced since the
    snapshot) are marked `skipped` here, so they get no message.
    """
    now = now or utcnow()
    if not is_sending(session, issue_id):
        return None
    lease = now + timedelta(seconds=settings.send_lease_seconds)
    due = (
        select(Delivery.id)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status.in_((D.PENDING, D.DEFERRED)),
            Delivery.next_attempt_at <= now,
        )
        .limit(settings.send_batch_size)
        .with_for_update(skip_locked=True)
    )
    taken = session.execute(
        update(_t)
        .where(_t.c.id.in_(due.scalar_subquery()))
        .values(status=D.SENDING, lease_expires_at=lease, attempts=_t.c.attempts + 1, updated_at=now)
        .returning(_t.c.id, _t.c.subscriber_id, _t.c.attempts)
    ).all()
    result = Claim(lease=lease)
    if not taken:
        return result
    subscribers = {
        row.id: row
        for row in session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.unsubscribe_token, Subscriber.status).where(
                Subscriber.id.in_([row.subscriber_id for row in taken])
            )
        )
    }
    skipped = []
    for row in taken:
        sub = subscribers.get(row.subscriber_id)
        if sub is None or sub.status != SubscriberStatus.CONFIRMED:
            skipped.append(row.id)
        else:
            result.rows.append(Claimed(row.id, row.subscriber_id, sub.email, sub.unsubscribe_token, row.attempts))
    if skipped:
        session.execute(
            update(_t)
            .where(_t.c.id.in_(skipped))
            .values(status=D.SKIPPED, lease_expires_at=None, last_reply="no longer subscribed at send time",
                    updated_at=now)
        )
        result.skipped = len(skipped)
    result.rows.sort(key=lambda r: r.delivery_id)
    return result


def record(
    session: Session, settings: Settings, lease: datetime, outcomes: list[Outcome], now: datetime | None = None
) -> list[datetime]:
    """Write outcomes in bulk; bounce (suppress) refused addresses. Return retry times.

    A deferred row that has used its last attempt becomes `failed` with its reason.
    """
    now = now or utcnow()
    guard = (_t.c.id == bindparam("b_id")) & (_t.c.status == D.SENDING) & (_t.c.lease_expires_at == lease)
    sent, deferred, final, bounced, retries = [], [], [], [], []
    for o in outcomes:
        reply = o.reply[:2000]
        if o.status == D.SENT:
            sent.append({"b_id": o.delivery_id, "b_reply": reply})
        elif o.status == D.DEFERRED and o.attempts < settings.send_max_attempts:
            when = now + timedelta(seconds=backoff(settings, o.attempts))
            retries.append(when)
            deferred.append({"b_id": o.delivery_id, "b_reply": reply, "b_next": when})
        elif o.status == D.DEFERRED:
            final.append({"b_id": o.delivery_id, "b_status": D.FAILED.value,
                          "b_reply": f"gave up after {o.attempts} attempts: {reply}"})
        else:
            final.append({"b_id": o.delivery_id, "b_status": o.status, "b_reply": reply})
            if o.status == D.BOUNCED:
                bounced.append({"b_sub": o.subscriber_id, "b_reason": reply[:500]})
    conn = session.connection()
    done = dict(lease_expires_at=None, updated_at=now)
    if sent:
        conn.execute(update(_t).where(guard).values(status=D.SENT, last_reply=bindparam("b_reply"), sent_at=now,
                                                    **done), sent)
    if deferred:
        conn.execute(update(_t).where(guard).values(status=D.DEFERRED, last_reply=bindparam("b_reply"),
                                                    next_attempt_at=bindparam("b_next"), **done), deferred)
    if final:
        conn.execute(update(_t).where(guard).values(status=bindparam("b_status"), last_reply=bindparam("b_reply"),
                                                    **done), final)
    if bounced:
        s = Subscriber.__table__
        conn.execute(
            update(s)
            .where(s.c.id == bindparam("b_sub"), s.c.status == SubscriberStatus.CONFIRMED)
            .values(status=SubscriberStatus.BOUNCED, bounced_at=now, bounce_reason=bindparam("b_reason"),
                    updated_at=now),
            bounced,
        )
    return retries


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


def finish_if_done(session: Session, issue_id: int, now: datetime | None = None) -> str | None:
    """Close the issue once no row is open: `sent`, or `failed` if nothing was delivered.

    An issue whose every message was refused is never reported as sent.
    """
    still_open = session.scalar(
        select(exists().where(Delivery.issue_id == issue_id, Delivery.status.in_(OPEN)))
    )
    if still_open:
        return None
    counts = dict(
        session.execute(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        ).all()
    )
    refused = counts.get(D.BOUNCED, 0) + counts.get(D.FAILED, 0)
    status = IssueStatus.FAILED if refused and not counts.get(D.SENT, 0) else IssueStatus.SENT
    done = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.SENDING)
        .values(status=status, finished_at=now or utcnow(),
                pause_reason=f"nothing was delivered: all {refused} messages were refused"
                if status == IssueStatus.FAILED else "")
    ).rowcount
    return status if done else None


@dataclass
class Sweep:
    to_dispatch: list[int] = field(default_factory=list)
    expired: int = 0
    finished: list[int] = field(default_factory=list)


def sweep(session: Session, settings: Settings, now: datetime | None = None) -> Sweep:
    """The periodic safety net: nothing relies on a Celery message arriving.

    Rows whose lease expired (their worker died) become due again; sending issues
    with due rows and no live claim are returned for a dispatch (which also
    snapshots an issue that has no rows yet); finished issues are closed.
    """
    now = now or utcnow()
    result = Sweep()
    result.expired = session.execute(
        update(_t)
        .where(_t.c.status == D.SENDING, _t.c.lease_expires_at < now)
        .values(
            status=case((_t.c.attempts >= settings.send_max_attempts, D.FAILED.value), else_=D.DEFERRED.value),
            last_reply="worker lost while sending (lease expired)",
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
    ).rowcount or 0
    for issue_id in session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)):
        has_rows = session.scalar(select(exists().where(Delivery.issue_id == issue_id)))
        if not has_rows:
            result.to_dispatch.append(issue_id)
            continue
        if finish_if_done(session, issue_id, now):
            result.finished.append(issue_id)
            continue
        busy = session.scalar(
            select(exists().where(Delivery.issue_id == issue_id, Delivery.status == D.SENDING))
        )
        stale = now - timedelta(seconds=60)
        stuck = session.scalar(
            select(exists().where(
                Delivery.issue_id == issue_id,
                Delivery.status.in_((D.PENDING, D.DEFERRED)),
                Delivery.next_attempt_at <= stale,
            ))
        )
        if (not busy and due_count(session, issue_id, now)) or stuck:
            result.to_dispatch.append(issue_id)
    return result

