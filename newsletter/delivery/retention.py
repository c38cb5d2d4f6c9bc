"""Retention: an old issue's unremarkable rows become counts, so `deliveries` stays bounded.

A year of weekly issues to a million readers is 52 million rows, nearly all of
them `sent`. Once an issue finished more than DELIVERY_RETENTION_DAYS ago, its
`sent`, `empty` and `skipped` rows are deleted in batches and counted into
`delivery_rollups` (per issue, variant and state). What stays is every exception:
`bounced` and `failed` rows (the report lists their replies) and any row a
feedback event points at (a complaint, a soft bounce, a provider's unsubscribe),
so an event keeps its copy and stays recorded once.

Each batch deletes with RETURNING and adds exactly what it deleted, in the same
transaction: a row is deleted once, so it is counted once, however many runs
overlap (PostgreSQL: the batch is picked FOR UPDATE SKIP LOCKED, so two runs take
different rows; a run repeated after a crash finds only the rows it did not
commit). The report (`report`) and the feedback figures add the rollup to the rows
left, so no number an editor sees changes.

What goes with the rows: a subscriber's history no longer lists old issues that
simply arrived. Feedback about a deleted copy (a complaint pressed months later)
still reaches its subscriber: the copy's bounce address names the subscriber
under its MAC (`mail.verp.copy_ident`), so it needs no row; it is recorded with
no copy, and the issue's figures do not count it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, case, column, delete, exists, func, select, table
from sqlalchemy.orm import Session

from ..db import insert_for, utcnow
from ..issues.models import Issue, IssueStatus
from .models import Delivery, DeliveryRollup
from .models import DeliveryStatus as D

# The states rolled up: everything that is no exception.
ROLLED_UP = (D.SENT, D.EMPTY, D.SKIPPED)
# The issue states a send ends in.
FINISHED = (IssueStatus.SENT, IssueStatus.FAILED, IssueStatus.CANCELLED)
BATCH = 5000
# Read by name, not imported: `feedback` builds on delivery, never the other way round.
_events = table("feedback_events", column("delivery_id", Integer))
_t = Delivery.__table__


def _rollable():
    """Rows of no exception: delivered (or nothing to deliver) and no event about them."""
    return _t.c.status.in_(ROLLED_UP) & ~exists().where(_events.c.delivery_id == _t.c.id)


@dataclass
class Retention:
    issues: list[int] = field(default_factory=list)
    rows: int = 0
    more: bool = False  # stopped at the batch limit with rows left


def due_issues(session: Session, days: int, now: datetime | None = None) -> list[int]:
    """Finished issues older than `days` that still hold rows to roll up."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    return list(session.scalars(
        select(Issue.id).where(
            Issue.status.in_(FINISHED), Issue.finished_at < cutoff,
            exists().where(_t.c.issue_id == Issue.id, _rollable()),
        ).order_by(Issue.id)
    ))


def roll_up_batch(session: Session, issue_id: int, limit: int = BATCH) -> int:
    """Delete up to `limit` unremarkable rows of the issue and add them to its counts.

    Returns the rows deleted (0: none left). Never commits: the delete and the
    counts belong in one transaction, which the caller commits.
    """
    picked = (
        select(_t.c.id)
        .where(_t.c.issue_id == issue_id, _rollable())
        .order_by(_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    gone = session.execute(
        delete(_t).where(_t.c.id.in_(picked.scalar_subquery()), _t.c.status.in_(ROLLED_UP))
        .returning(_t.c.variant, _t.c.status, _t.c.sent_at)
    ).all()
    if not gone:
        return 0
    counts: Counter[tuple[str, str]] = Counter()
    last: dict[tuple[str, str], datetime] = {}
    for variant, status, sent_at in gone:
        counts[variant, status] += 1
        if sent_at is not None and (last.get((variant, status)) is None or sent_at > last[variant, status]):
            last[variant, status] = sent_at
    insert = insert_for(session)(DeliveryRollup)
    rollup = DeliveryRollup.__table__
    newer = insert.excluded.last_sent_at
    session.execute(
        insert.values([
            {"issue_id": issue_id, "variant": variant, "status": status, "count": n,
             "last_sent_at": last.get((variant, status))}
            for (variant, status), n in sorted(counts.items())
        ]).on_conflict_do_update(
            index_elements=["issue_id", "variant", "status"],
            set_={
                "count": rollup.c.count + insert.excluded.count,
                "last_sent_at": case(
                    (rollup.c.last_sent_at.is_(None), newer),
                    (newer > rollup.c.last_sent_at, newer),
                    else_=rollup.c.last_sent_at,
                ),
            },
        )
    )
    return len(gone)


def roll_up(session: Session, days: int, after_batch: Callable[[int], None], now: datetime | None = None,
            max_batches: int | None = None, batch: int = BATCH) -> Retention:
    """Roll up every due issue, one batch at a time; `after_batch(rows)` commits.

    Memory is one batch whatever the issue's size. With `max_batches`, stop there
    (`more` says rows are left for the next run).
    """
    result = Retention()
    batches = 0
    for issue_id in due_issues(session, days, now):
        result.issues.append(issue_id)
        while True:
            if max_batches is not None and batches >= max_batches:
                result.more = True
                return result
            rows = roll_up_batch(session, issue_id, batch)
            after_batch(rows)
            batches += 1
            result.rows += rows
            if rows < batch:
                break
    return result


def rolled_up(session: Session, issue_id: int) -> tuple[dict[str, int], datetime | None]:
    """The issue's rolled-up counts per state, and the last accepted copy among them."""
    rows = session.execute(
        select(DeliveryRollup.status, func.sum(DeliveryRollup.count), func.max(DeliveryRollup.last_sent_at))
        .where(DeliveryRollup.issue_id == issue_id).group_by(DeliveryRollup.status)
    ).all()
    last = max((r[2] for r in rows if r[2] is not None), default=None)
    return {status: int(n) for status, n, _ in rows}, last


def with_rolled_up(session: Session, issue_id: int, counts: dict[str, int]) -> dict[str, int]:
    """`counts` (from the rows still there) plus the issue's rollup."""
    extra, _ = rolled_up(session, issue_id)
    return {status: counts.get(status, 0) + extra.get(status, 0) for status in {*counts, *extra}}
