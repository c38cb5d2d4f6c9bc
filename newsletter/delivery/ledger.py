"""The ledger: the database side of sending an issue, one row per recipient.

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
- `renew()` extends the lease of rows still in hand (a slow relay keeps them);
- `release()` hands back rows a worker claimed but did not try;
- `finish_if_done()` closes the issue once no row is open.
The sweeper (`sweep`) is the safety net over all of it. Category variants: `categories`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session

from ..audience import recipients, suppression
from ..config import Settings
from ..db import insert_for, utcnow
from ..issues import lifecycle
from ..issues.models import Issue, IssueStatus
from ..mail.rendering import RenderedMail
from .models import Delivery
from .models import DeliveryStatus as D

_t = Delivery.__table__


@dataclass(frozen=True)
class Claimed:
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


@dataclass(frozen=True)
class RowResult:
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


def started_at(session: Session, issue_id: int) -> datetime | None:
    """When the issue's sending started: with its id, what tells one send from another."""
    return session.scalar(select(Issue.sending_started_at).where(Issue.id == issue_id))


def frozen_mail(session: Session, issue_id: int) -> RenderedMail | None:
    row = session.execute(
        select(Issue.rendered_subject, Issue.subject, Issue.html, Issue.text).where(Issue.id == issue_id)
    ).one_or_none()
    if row is None:
        return None
    return RenderedMail(row.rendered_subject or row.subject, row.html, row.text)


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

    audience = recipients.snapshot_rows().add_columns(  # id, category set (their variant); set by set
        const("issue_id", issue_id, Delivery.issue_id),
        const("status", D.PENDING.value, Delivery.status),
        const("attempts", 0, Delivery.attempts),
        const("due", now, Delivery.next_attempt_at),
        const("reply", "", Delivery.last_reply),
        const("updated", now, Delivery.updated_at),
    )
    stmt = insert_for(session)(Delivery).from_select(
        ["subscriber_id", "variant", "issue_id", "status", "attempts", "next_attempt_at", "last_reply", "updated_at"],
        audience).on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
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
            Delivery.status.in_(D.WAITING),
            Delivery.next_attempt_at <= now,
        )
    ) or 0


def next_due_at(session: Session, issue_id: int) -> datetime | None:
    """When the earliest deferred row of the issue is due (None if none is)."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.issue_id == issue_id, Delivery.status.in_(D.WAITING)
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
            Delivery.status.in_(D.WAITING),
            Delivery.next_attempt_at <= now,
        )
        .limit(settings.send_batch_size)
        .with_for_update(skip_locked=True)
    )
    taken = session.execute(
        update(_t)
        .where(_t.c.id.in_(due.scalar_subquery()))
        .values(status=D.SENDING, lease_expires_at=lease, attempts=_t.c.attempts + 1, updated_at=now)
        .returning(_t.c.id, _t.c.subscriber_id, _t.c.attempts, _t.c.variant)
    ).all()
    result = Claim(lease=lease)
    if not taken:
        return result
    subscribers = recipients.for_sending(session, [row.subscriber_id for row in taken])
    skipped = []
    for row in taken:
        sub = subscribers.get(row.subscriber_id)
        if sub is None or not sub.receiving:
            skipped.append(row.id)
        else:
            result.rows.append(Claimed(row.id, row.subscriber_id, sub.email, sub.unsubscribe_token, row.attempts,
                                       sub.manage_token, row.variant))
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
    session: Session, settings: Settings, lease: datetime, outcomes: list[RowResult], now: datetime | None = None
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
                bounced.append((o.subscriber_id, reply))
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
    suppression.mark_bounced(session, bounced, now)
    return retries


def renew(
    session: Session, settings: Settings, lease: datetime, delivery_ids: list[int], now: datetime | None = None
) -> datetime | None:
    """A new lease for the rows still held under `lease`, or None if none is (all
    recorded, or the sweeper took them back: the holder must not send them)."""
    renewed = (now or utcnow()) + timedelta(seconds=settings.send_lease_seconds)
    held = session.execute(update(_t).where(_t.c.id.in_(delivery_ids), _t.c.status == D.SENDING,
                                            _t.c.lease_expires_at == lease).values(lease_expires_at=renewed))
    return renewed if held.rowcount else None


def bounced_after(session: Session, delivery_id: int, reason: str, now: datetime | None = None) -> bool:
    """A copy the relay accepted bounced later (a DSN, a provider's webhook): the row
    says so, keeping its reply for editors. True if the row moved."""
    return bool(session.execute(
        update(_t)
        .where(_t.c.id == delivery_id, _t.c.status == D.SENT)
        .values(status=D.BOUNCED, last_reply=reason[:2000], updated_at=now or utcnow())
    ).rowcount)


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
        select(exists().where(Delivery.issue_id == issue_id, Delivery.status.in_(D.OPEN)))
    )
    if still_open:
        return None
    counts = dict(
        session.execute(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        ).all()
    )
    refused = sum(counts.get(status, 0) for status in D.REFUSED)
    now = now or utcnow()
    if refused and not counts.get(D.SENT, 0):
        failed = lifecycle.move(session, issue_id, "fail", finished_at=now,
                                pause_reason=f"nothing was delivered: all {refused} messages were refused")
        return IssueStatus.FAILED if failed else None
    return IssueStatus.SENT if lifecycle.move(session, issue_id, "finish", finished_at=now, pause_reason="") else None
