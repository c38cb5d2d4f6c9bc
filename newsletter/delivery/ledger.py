"""The ledger: the database side of sending an issue, one row per recipient.

The `deliveries` table is the truth about who has the issue; Celery messages are
only hints that rows are due. Every function here takes a session and never
commits, so a caller can make each step one short transaction:

- `snapshot.step()` takes the confirmed audience a chunk of subscriber ids at a
  time (INSERT ... SELECT, duplicates ignored), so a second dispatch adds nobody
  twice; `start()` takes all of it at once;
- `claims.claim()` takes a batch of due rows (of one domain group) with a lease;
- `record()` writes a batch of SMTP outcomes with executemany, guarded by the
  lease, so a worker whose lease expired cannot overwrite a newer claim;
- `claims.renew()` / `claims.release()` keep or hand back claimed rows;
- `finish_if_done()` closes the issue once no row is open.
The sweeper (`sweep`) is the safety net over all of it. Category variants: `categories`.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import BigInteger, Text, Update, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..audience import suppression
from ..config import Settings
from ..db import utcnow
from ..issues import lifecycle
from ..issues.models import Issue, IssueStatus
from ..mail.rendering import RenderedMail
from . import snapshot
from .claims import Claim, Claimed, claim, is_sending, release, renew  # noqa: F401 - the ledger's API
from .models import Delivery, status_in
from .models import DeliveryStatus as D

_t = Delivery.__table__


class RowResult(NamedTuple):
    """What to write for one claimed row (a tuple: one is made per message)."""

    delivery_id: int
    subscriber_id: int
    attempts: int
    status: str  # sent, deferred, bounced, failed, or THROTTLED
    reply: str
    retry_in: float = 0.0  # THROTTLED: seconds until its group may take it again


def _recorded(**values) -> Update:
    """An outcome's UPDATE, built once: guarded by the lease (`b_lease`), so a worker
    whose lease ran out writes nothing over a newer claim; each row by `b_id`."""
    return update(_t).where(_t.c.id == bindparam("b_id"), _held).values(**values, **_done)


_held = (_t.c.status == D.SENDING) & (_t.c.lease_expires_at == bindparam("b_lease", type_=_t.c.lease_expires_at.type))
_done = dict(lease_expires_at=None, updated_at=bindparam("b_now", type_=_t.c.updated_at.type))
# Accepted copies, each with its own reply (a relay's reply usually names the copy's
# queue id: "250 2.0.0 Ok: queued as 4XyZ…", worth keeping to trace it in the relay's
# logs). PostgreSQL takes a write's copies as two arrays in one fixed, prepared
# statement; elsewhere (SQLite) one statement per copy, in one executemany.
_sent_pairs = func.unnest(bindparam("b_ids", type_=ARRAY(BigInteger)), bindparam("b_replies", type_=ARRAY(Text))) \
    .table_valued("id", "reply").render_derived(name="sent")
_RECORD_SENT_ARRAYS = (update(_t).where(_t.c.id == _sent_pairs.c.id, _held)
                       .values(status=D.SENT, last_reply=_sent_pairs.c.reply, sent_at=bindparam("b_now"), **_done))
_RECORD_SENT = _recorded(status=D.SENT, last_reply=bindparam("b_reply"), sent_at=bindparam("b_now"))
_RECORD_DEFERRED = _recorded(status=D.DEFERRED, last_reply=bindparam("b_reply"), next_attempt_at=bindparam("b_next"))
_RECORD_THROTTLED = _recorded(status=D.DEFERRED, last_reply=bindparam("b_reply"), attempts=_t.c.attempts - 1,
                              throttles=_t.c.throttles + 1, next_attempt_at=bindparam("b_next"))
_RECORD_FINAL = _recorded(status=bindparam("b_status"), last_reply=bindparam("b_reply"))


# Not a row state: a deferral the receiving side asked for by limiting our pace. The
# row waits in its group's lane as `deferred`, and the try costs it no attempt.
THROTTLED = "throttled"


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


def start(session: Session, issue_id: int, now: datetime | None = None, settings: Settings | None = None) -> int:
    """Snapshot the rest of the audience now, in the caller's one transaction (the
    workers take it chunk by chunk: `snapshot.step`); return the rows added. An issue
    in `sending` with nobody to send to is closed."""
    added, sending = snapshot.take_all(session, issue_id, settings, now)
    if sending and added == 0:
        finish_if_done(session, issue_id, now)  # nobody to send to (or all there already)
    return added


def due_count(session: Session, issue_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    return session.scalar(
        select(func.count()).where(
            Delivery.issue_id == issue_id,
            status_in(*D.WAITING),
            Delivery.next_attempt_at <= now,
        )
    ) or 0


def next_due_at(session: Session, issue_id: int) -> datetime | None:
    """When the earliest deferred row of the issue is due (None if none is)."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.issue_id == issue_id, status_in(*D.WAITING)
        )
    )


def record(
    session: Session, settings: Settings, lease: datetime, outcomes: list[RowResult], now: datetime | None = None
) -> list[datetime]:
    """Write outcomes in bulk; bounce (suppress) refused addresses. Return retry times.

    A deferred row that has used its last attempt becomes `failed` with its reason.
    """
    now = now or utcnow()
    held = {"b_lease": lease, "b_now": now}
    sent: dict[int, str] = {}
    deferred, final, bounced, retries, throttled = [], [], [], [], []
    for o in outcomes:
        reply = o.reply[:2000]
        if o.status == D.SENT:
            sent[o.delivery_id] = reply
        elif o.status == THROTTLED:
            when = now + timedelta(seconds=o.retry_in)
            retries.append(when)
            throttled.append({**held, "b_id": o.delivery_id, "b_reply": reply, "b_next": when})
        elif o.status == D.DEFERRED and o.attempts < settings.send_max_attempts:
            when = now + timedelta(seconds=backoff(settings, o.attempts))
            retries.append(when)
            deferred.append({**held, "b_id": o.delivery_id, "b_reply": reply, "b_next": when})
        elif o.status == D.DEFERRED:
            final.append({**held, "b_id": o.delivery_id, "b_status": D.FAILED.value,
                          "b_reply": f"gave up after {o.attempts} attempts: {reply}"})
        else:
            final.append({**held, "b_id": o.delivery_id, "b_status": o.status, "b_reply": reply})
            if o.status == D.BOUNCED:
                bounced.append((o.subscriber_id, reply))
    conn = session.connection()
    if sent:
        _record_sent(conn, held, sent)
    for statement, rows in ((_RECORD_DEFERRED, deferred), (_RECORD_THROTTLED, throttled), (_RECORD_FINAL, final)):
        if rows:
            conn.execute(statement, rows)
    suppression.mark_bounced(session, bounced, now)
    return retries


def accepted_alone(outcomes: list[RowResult]) -> bool:
    """Whether a write holds accepted copies only (the engine's usual write), which
    `record_accepted` can make in one statement."""
    return all(o.status == D.SENT for o in outcomes)


def record_accepted(connection: Connection, lease: datetime, outcomes: list[RowResult],
                    now: datetime | None = None) -> None:
    """`record` for a write of accepted copies alone (`accepted_alone`), on PostgreSQL
    one statement that is atomic by itself: run on an autocommit connection
    (`Database.autocommit`) it costs one round trip instead of BEGIN, UPDATE and
    COMMIT, and a third of the client's time. Nothing else is written: no address
    bounced, no retry is due."""
    if connection.dialect.name != "postgresql":
        raise ValueError("one statement for many rows needs PostgreSQL's arrays: use `record`")
    _record_sent(connection, {"b_lease": lease, "b_now": now or utcnow()},
                 {o.delivery_id: o.reply[:2000] for o in outcomes})


def _record_sent(conn: Connection, held: dict, sent: dict[int, str]) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_RECORD_SENT_ARRAYS, {**held, "b_ids": list(sent), "b_replies": list(sent.values())})
    else:
        conn.execute(_RECORD_SENT, [{**held, "b_id": i, "b_reply": reply} for i, reply in sent.items()])


def bounced_after(session: Session, delivery_id: int, reason: str, now: datetime | None = None) -> bool:
    """A copy the relay accepted bounced later (a DSN, a provider's webhook): the row
    says so, keeping its reply for editors. True if the row moved."""
    return bool(session.execute(
        update(_t)
        .where(_t.c.id == delivery_id, _t.c.status == D.SENT)
        .values(status=D.BOUNCED, last_reply=reason[:2000], updated_at=now or utcnow())
    ).rowcount)


def bounced_after_many(session: Session, copies: list[tuple[int, str]], now: datetime | None = None) -> None:
    """`bounced_after` for a set of (delivery id, reason), in one executemany."""
    if not copies:
        return
    session.connection().execute(
        update(_t).where(_t.c.id == bindparam("b_id"), _t.c.status == D.SENT)
        .values(status=D.BOUNCED, last_reply=bindparam("b_reply"), updated_at=now or utcnow()),
        [{"b_id": delivery_id, "b_reply": reason[:2000]} for delivery_id, reason in sorted(copies)],
    )


def finish_if_done(session: Session, issue_id: int, now: datetime | None = None) -> str | None:
    """Close the issue once no row is open: `sent`, or `failed` if nothing was delivered.

    An issue whose every message was refused is never reported as sent.
    """
    if not snapshot.complete(session, issue_id):
        return None  # more of the audience is still to come
    still_open = session.scalar(select(  # OPEN, asked of each partial index in turn
        exists().where(Delivery.issue_id == issue_id, status_in(*D.WAITING))
        | exists().where(Delivery.issue_id == issue_id, status_in(D.SENDING))
    ))
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
