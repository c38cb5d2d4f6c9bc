"""The sweeper starts send chains only for an issue whose chains are gone: run every
15 s against a send whose chains are alive, it must not stack more of them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.delivery import make_sending_issue, make_subscribers, take_queued

from newsletter.db import utcnow
from newsletter.delivery import ledger
from newsletter.delivery.batch import RunResult
from newsletter.delivery.sweep import sweep
from newsletter.models import Delivery
from workers.delivery import MAX_COUNTDOWN, dispatch_issue, next_run, send_batch, sweep_deliveries


@pytest.fixture
def env(env):
    return {**env, "SEND_BATCH_SIZE": "20", "SEND_PARALLEL_BATCHES": "3"}


def _chains(celery) -> int:
    """The send chains queued for the issue: batch messages, and those a queued
    dispatch starts (run here, as a worker would)."""
    for task, args in take_queued(celery, "default"):
        assert task == dispatch_issue.name
        dispatch_issue.apply(args)
    return sum(task == send_batch.name for task, _ in take_queued(celery, "bulk"))


def test_the_sweeper_does_not_stack_chains_on_a_live_send(app, db, session, celery_app):
    make_subscribers(session, 100)
    issue_id = make_sending_issue(session)
    session.commit()
    dispatch_issue.apply((issue_id,))
    assert _chains(celery_app) == 3
    # The chains are between runs: a batch of each was just recorded, the rest is due.
    with db.session() as s:
        sent = s.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).limit(30)).all()
        s.execute(update(Delivery).where(Delivery.id.in_(sent)).values(status="sent", sent_at=utcnow(),
                                                                          updated_at=utcnow()))
        s.commit()
    for _ in range(4):  # a minute of the beat
        sweep_deliveries.apply()
    assert _chains(celery_app) == 0
    # A live chain is mid-batch: its rows are claimed under a lease.
    with db.session() as s:
        claimed = s.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id, Delivery.status == "pending")
                            .limit(20)).all()
        s.execute(update(Delivery).where(Delivery.id.in_(claimed)).values(
            status="sending", lease_expires_at=utcnow() + timedelta(seconds=45)))
        s.execute(update(Delivery).where(Delivery.issue_id == issue_id).values(
            updated_at=utcnow() - timedelta(minutes=10)))
        s.commit()
    sweep_deliveries.apply()
    assert _chains(celery_app) == 0


def _quiet_send(db, session, celery) -> int:
    """A send whose chains' messages were lost ten minutes ago: nothing has moved since."""
    make_subscribers(session, 100)
    issue_id = make_sending_issue(session)
    session.commit()
    dispatch_issue.apply((issue_id,))
    take_queued(celery, "bulk")
    long_ago = utcnow() - timedelta(minutes=10)
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.issue_id == issue_id).values(updated_at=long_ago,
                                                                              next_attempt_at=long_ago))
        s.commit()
    return issue_id


def test_the_sweeper_restarts_a_send_whose_chains_are_gone(app, db, session, celery_app):
    issue_id = _quiet_send(db, session, celery_app)
    sweep_deliveries.apply()
    assert _chains(celery_app) == 3
    with db.session() as s:  # a worker died holding a batch: its lease ran out a moment ago
        held = s.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).limit(20)).all()
        s.execute(update(Delivery).where(Delivery.id.in_(held)).values(
            status="sending", lease_expires_at=utcnow() - timedelta(seconds=1), updated_at=utcnow()))
        s.commit()
    sweep_deliveries.apply()
    assert _chains(celery_app) == 3  # at once, though other rows moved recently


def test_late_bounces_do_not_pass_for_a_live_chain(app, db, session, celery_app):
    issue_id = _quiet_send(db, session, celery_app)
    long_ago = utcnow() - timedelta(minutes=10)
    with db.session() as s:
        sent = s.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).limit(10)).all()
        s.execute(update(Delivery).where(Delivery.id.in_(sent)).values(status="sent", sent_at=long_ago))
        s.commit()
        for delivery_id in sent:  # DSNs arrive for copies sent long ago
            ledger.bounced_after(s, delivery_id, "550 5.1.1 no such user")
        s.commit()
    sweep_deliveries.apply()
    assert _chains(celery_app) == 3


@pytest.mark.parametrize("wait, hops", [(100, [60.0, 40.0]), (200, [])])
def test_a_retry_due_soon_is_the_chains_own_and_a_later_one_the_sweepers(session, settings, wait, hops):
    """A chain ends having sent its batch and deferred one copy `wait` seconds ahead. A
    retry within RETRY_HOPS_WITHIN is the chain's, in hops of at most a minute, and the
    sweeper leaves it alone when it falls due (no second chain); a later one is the
    sweeper's, which starts a chain the moment it falls due, not when the quiet window
    ends."""
    make_subscribers(session, 10)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id, settings=settings)
    ended = utcnow()
    retry_at = ended + timedelta(seconds=wait)
    rows = session.scalars(select(Delivery.id).where(Delivery.issue_id == issue_id).order_by(Delivery.id)).all()
    session.execute(update(Delivery).where(Delivery.id.in_(rows[1:])).values(
        status="sent", sent_at=ended, updated_at=ended, attempts=1))
    session.execute(update(Delivery).where(Delivery.id == rows[0]).values(
        status="deferred", next_attempt_at=retry_at, updated_at=ended, attempts=1, last_reply="451 try later"))
    session.commit()

    now, countdowns = ended, []
    while (countdown := next_run(RunResult(), retry_at, now)) is not None and now < retry_at:
        assert 0 < countdown <= MAX_COUNTDOWN
        countdowns.append(countdown)
        now += timedelta(seconds=countdown)
    assert countdowns == pytest.approx(hops)
    due = sweep(session, settings, now=retry_at + timedelta(seconds=1)).to_dispatch
    assert due == ([] if hops else [issue_id])
