"""The audience snapshot: one delivery row per recipient, taken in chunks of
subscriber ids, each chunk its own short transaction.

A million rows in one INSERT … SELECT held the issue row locked for twenty seconds
(an editor's pause waited as long) and sent nothing until the last row was in.
Taken in chunks (`step`), the first copies go out a second after the hand-off while
the rest are added, and a pause waits one chunk at most. The audience is fixed when
the snapshot starts: subscribers up to the highest id there was (`upto`), each
taken if they receive issues when their chunk comes (`DeliverySnapshot` keeps how
far it got). Two dispatches take turns on the issue row, and ON CONFLICT DO NOTHING
keeps each recipient once anyway; a dispatch that dies mid-way is picked up again by
the sweeper, from where it stopped. Until the last chunk is in, the issue is not
finished (`complete`), however few rows are open.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..audience import recipients
from ..audience.models import Subscriber
from ..config import Settings
from ..db import insert_for, utcnow
from ..issues.models import Issue, IssueStatus
from . import groups
from .models import Delivery, DeliverySnapshot
from .models import DeliveryStatus as D

CHUNK = 50_000  # subscriber ids a step takes: about a second of the issue row's lock at a million
FIRST_CHUNK = 5_000  # the first step's: enough for the first batches, in a fraction of a second


@dataclass(frozen=True)
class Step:
    added: int  # rows this step inserted
    done: bool  # the snapshot is complete
    first: bool  # this step started the snapshot (nothing was taken before it)
    after: int  # the step took subscriber ids in (after, through]
    through: int


def step(session: Session, issue_id: int, settings: Settings | None = None, limit: int | None = None,
         now: datetime | None = None) -> Step | None:
    """Take the next chunk of the audience; None if the issue is not sending.

    Each row gets its receiving-domain group from `settings` (none given: `other`).
    """
    now = now or utcnow()
    issue = session.scalar(select(Issue).where(Issue.id == issue_id).with_for_update())
    if issue is None or issue.status != IssueStatus.SENDING:
        return None
    if issue.sending_started_at is None:
        issue.sending_started_at = now
    progress, first = session.get(DeliverySnapshot, issue_id), False
    if progress is None:
        upto = session.scalar(select(func.max(Subscriber.id))) or 0
        progress, first = DeliverySnapshot(issue_id=issue_id, upto=upto, cursor=0), True
        session.add(progress)
    after = progress.cursor
    if after >= progress.upto:
        session.flush()
        return Step(0, True, first, after, after)
    through = min(after + (limit or (FIRST_CHUNK if after == 0 else CHUNK)), progress.upto)
    added = _insert(session, issue_id, settings, now, after, through)
    progress.cursor = through
    session.flush()
    return Step(added, through >= progress.upto, first, after, through)


def take_all(session: Session, issue_id: int, settings: Settings | None = None,
             now: datetime | None = None) -> tuple[int, bool]:
    """Every remaining chunk in the caller's one transaction (tools, tests, small lists):
    (rows added, whether the issue was sending)."""
    added = 0
    while (taken := step(session, issue_id, settings, now=now)) is not None:
        added += taken.added
        if taken.done:
            return added, True
    return added, False


def complete(session: Session, issue_id: int) -> bool:
    """Every chunk of the issue's audience is in (False before the first)."""
    progress = session.execute(select(DeliverySnapshot.cursor, DeliverySnapshot.upto)
                               .where(DeliverySnapshot.issue_id == issue_id)).one_or_none()
    return progress is not None and progress.cursor >= progress.upto


def stalled(session: Session, since: datetime) -> set[int]:
    """Issues whose snapshot is incomplete and took no chunk since `since`: its
    dispatch died (the sweeper dispatches them again)."""
    return set(session.scalars(select(DeliverySnapshot.issue_id).where(
        DeliverySnapshot.cursor < DeliverySnapshot.upto, DeliverySnapshot.updated_at < since)))


def _insert(session: Session, issue_id: int, settings: Settings | None, now: datetime, after: int,
            through: int) -> int:
    def const(name, value, column):
        return bindparam(name, value, type_=column.type)

    audience = recipients.snapshot_rows().where(Subscriber.id > after, Subscriber.id <= through).add_columns(
        const("issue_id", issue_id, Delivery.issue_id),  # id, category set (their variant); set by set
        const("status", D.PENDING.value, Delivery.status),
        const("attempts", 0, Delivery.attempts),
        const("due", now, Delivery.next_attempt_at),
        const("reply", "", Delivery.last_reply),
        const("updated", now, Delivery.updated_at),
        groups.sql_group(settings, Subscriber.email) if settings else const("group", groups.OTHER, Delivery.pacing_group),
    )
    stmt = insert_for(session)(Delivery).from_select(
        ["subscriber_id", "variant", "issue_id", "status", "attempts", "next_attempt_at", "last_reply", "updated_at",
         "pacing_group"], audience
    ).on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
    # Without preserve_rowcount an INSERT's rowcount is -1 on psycopg.
    return session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount
