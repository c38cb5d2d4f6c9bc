"""Delivery tasks: the hand-off from the editor side, the batch chains, the sweeper.

The hand-off contract: after committing an issue's move to `sending` (with its
frozen content), call `dispatch_issue.delay(issue_id)` (the due-scan does). Calling it twice, or
while the issue is already being sent, is harmless: the audience snapshot
happens once and every batch claims rows atomically.

`send_batch` runs as chains: each run sends what is due for up to a time budget
and, if rows are left, enqueues its own successor (after its commits). A chain
whose rows were deferred re-queues itself for when they fall due (at most a
minute ahead: long countdowns come back twice with Redis); anything later is
the sweeper's, which runs every minute and trusts only the database.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime

from celery import shared_task

from newsletter.db import utcnow
from newsletter.delivery import categories, control, engine, ledger, retention, snapshot
from newsletter.delivery.batch import RunResult
from newsletter.delivery.sweep import ACTIVE_SECONDS, sweep
from newsletter.mail.rendering import RenderError

from . import database, settings

log = logging.getLogger(__name__)

MAX_COUNTDOWN = 60.0
SNAPSHOT_POLL_SECONDS = 1.0  # a chain that ran dry while the snapshot is still adding rows


def _chains(due: int) -> int:
    s = settings()
    return min(s.send_parallel_batches, math.ceil(due / s.send_batch_size))


@shared_task
def dispatch_issue(issue_id: int) -> int:
    """Snapshot the audience, a chunk per transaction, and start the batch chains as
    soon as rows are due: the first copies go out while the rest are added."""
    db, chains, added = database(), 0, 0
    while True:
        with db.session() as session:
            try:
                step = snapshot.step(session, issue_id, settings=settings())
                if step is not None and step.first:
                    categories.freeze_audience(session, settings(), issue_id)
                if step is not None and step.added:
                    categories.snapshot(session, settings(), issue_id, (step.after, step.through))
            except RenderError as exc:  # retrying would fail the same way every minute: an editor must look
                session.rollback()
                control.pause(session, issue_id, f"a category variant could not be rendered: {exc}")
                session.commit()
                log.warning("issue %s paused: a category variant could not be rendered: %s", issue_id, exc)
                return chains
            # Not sending (paused, cancelled, done): nothing to start. Everything already
            # sent (say, resumed after the last batch): close it now, not at the next sweep.
            live = step is not None and not (step.done and ledger.finish_if_done(session, issue_id))
            due = ledger.due_count(session, issue_id) if live and not chains else 0
            session.commit()
        added += step.added if step is not None else 0
        if due:
            chains = _chains(due)
            for _ in range(chains):
                send_batch.delay(issue_id)
        if step is None or step.done:
            break
    if added:
        log.info("issue %s: %d recipients", issue_id, added)
    return chains


@shared_task
def send_batch(issue_id: int) -> int:
    """Claim, send and record batches of one issue for up to 30 seconds."""
    db = database()
    result = engine.run(db, settings(), issue_id)
    with db.session() as session:
        ledger.finish_if_done(session, issue_id)
        retry_at = ledger.next_due_at(session, issue_id) if not result.more_due else None
        growing = not snapshot.complete(session, issue_id)
        session.commit()
    countdown = next_run(result, retry_at, utcnow(), growing)
    if countdown == 0:
        send_batch.delay(issue_id)
    elif countdown is not None:
        send_batch.apply_async((issue_id,), countdown=countdown)
    return result.sent


# A retry due this soon after a chain ends is the chain's own (in hops of at most
# MAX_COUNTDOWN): the sweeper would wait until the chain has been quiet for
# sweep.ACTIVE_SECONDS, up to a minute and a half past the retry. What is due later
# is the sweeper's, which then sees the chain gone and starts one at once. The
# margin is a run's length, so the two never both start a chain for the same retry.
RETRY_HOPS_WITHIN = ACTIVE_SECONDS - 30.0


def next_run(result: RunResult, retry_at: datetime | None, now: datetime, growing: bool = False) -> float | None:
    """When the chain's next run should start: 0 (now), a countdown in seconds, or None
    (the chain ends: nothing left, stopped, or the sweeper's). While the snapshot is
    still `growing`, a chain that ran out of rows looks again within a second."""
    if result.stopped in ("paused", "not sending"):
        return None
    if result.more_due:
        return 0
    if growing:
        later = next_run(result, retry_at, now)
        return SNAPSHOT_POLL_SECONDS if later is None else min(later, SNAPSHOT_POLL_SECONDS)
    if result.stopped == "paced":
        # Every group with rows due waits on its pacing; a wait past a minute (a
        # warm-up cap reached) is the sweeper's, which looks every minute.
        return max(result.paced_for, 0.05) if result.paced_for <= MAX_COUNTDOWN else None
    if retry_at is not None and result.stopped != "budget":
        wait = (retry_at - now).total_seconds()
        return min(max(wait, 0.05), MAX_COUNTDOWN) if wait <= RETRY_HOPS_WITHIN else None
    return None


@shared_task
def sweep_deliveries() -> int:
    """Every minute: recover rows of dead workers, restart stalled sends, close finished ones."""
    with database().session() as session:
        swept = sweep(session, settings())
        session.commit()
    if swept.expired:
        log.warning("%d deliveries were held by a lost worker; they are due again", swept.expired)
    for issue_id in swept.to_dispatch:
        dispatch_issue.delay(issue_id)
    return len(swept.to_dispatch)


# A run deletes at most this many batches (of `retention.BATCH` rows), so it ends
# well inside the task time limit; the next run goes on where it stopped.
RETENTION_BATCHES_PER_RUN = 100


@shared_task
def roll_up_deliveries() -> int:
    """Every ten minutes: old issues' delivered rows become counts (`delivery.retention`)."""
    with database().session() as session:
        done = retention.roll_up(session, settings().delivery_retention_days, lambda rows: session.commit(),
                                 max_batches=RETENTION_BATCHES_PER_RUN)
        session.commit()
    if done.rows:
        log.info("retention: %d delivery rows of issues %s rolled up%s", done.rows, done.issues,
                 "; more next run" if done.more else "")
    return done.rows
