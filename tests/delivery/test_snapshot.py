"""The audience snapshot taken a chunk of subscriber ids at a time: the same rows as
all at once, the first ones sendable before the rest are in, never finished early,
and picked up again where it stopped when its dispatch dies."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from support.delivery import make_sending_issue, make_subscribers, status_counts, take_queued

from newsletter.db import utcnow
from newsletter.delivery import ledger, snapshot
from newsletter.delivery.batch import RunResult
from newsletter.delivery.sweep import sweep
from newsletter.models import Delivery, DeliverySnapshot, Subscriber
from workers.delivery import SNAPSHOT_POLL_SECONDS, dispatch_issue, next_run, send_batch


def _subscribers_with_gaps(session, count: int) -> set[int]:
    """`count` subscribers, every third one unsubscribed: the ids that receive."""
    ids = make_subscribers(session, count)
    left = ids[::3]
    session.execute(update(Subscriber).where(Subscriber.id.in_(left)).values(status="unsubscribed"))
    return set(ids) - set(left)


def _rows(db, issue_id: int) -> list[int]:
    with db.session() as s:
        return sorted(s.scalars(select(Delivery.subscriber_id).where(Delivery.issue_id == issue_id)))


def test_chunks_take_each_receiving_subscriber_once(app, db, session, settings):
    receiving = _subscribers_with_gaps(session, 25)
    issue_id = make_sending_issue(session)
    session.commit()
    steps = []
    while True:
        with db.session() as s:
            taken = snapshot.step(s, issue_id, settings, limit=7)
            s.commit()
        steps.append(taken)
        if taken.done:
            break
    assert _rows(db, issue_id) == sorted(receiving)
    assert [t.first for t in steps] == [True] + [False] * (len(steps) - 1)
    assert [t.done for t in steps] == [False] * (len(steps) - 1) + [True]
    assert sum(t.added for t in steps) == len(receiving)
    assert all(t.after == before.through for before, t in zip(steps, steps[1:]))
    assert {t.through - t.after for t in steps[:-1]} == {7}
    with db.session() as s:  # a second dispatch adds nobody
        assert ledger.start(s, issue_id) == 0
        s.commit()
    assert _rows(db, issue_id) == sorted(receiving)


def test_the_audience_is_who_there_was_when_the_snapshot_started(app, db, session, settings):
    first = set(make_subscribers(session, 10))
    issue_id = make_sending_issue(session)
    session.commit()
    with db.session() as s:
        snapshot.step(s, issue_id, settings, limit=4)
        s.commit()
    make_subscribers(session, 5, start=10)  # subscribed while the snapshot was under way
    session.commit()
    with db.session() as s:
        snapshot.take_all(s, issue_id, settings)
        s.commit()
    assert _rows(db, issue_id) == sorted(first)


def test_the_first_chunk_goes_out_and_the_issue_waits_for_the_rest(app, db, session, settings):
    make_subscribers(session, 10)
    issue_id = make_sending_issue(session)
    session.commit()
    with db.session() as s:
        snapshot.step(s, issue_id, settings, limit=4)
        s.commit()
    with db.session() as s:
        claim = ledger.claim(s, settings, issue_id)
        s.commit()
    assert len(claim.rows) == 4  # sendable before the rest is in
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.issue_id == issue_id).values(status="sent", lease_expires_at=None))
        assert ledger.finish_if_done(s, issue_id) is None  # every row so far is sent: not done
        assert not snapshot.complete(s, issue_id)
        snapshot.take_all(s, issue_id, settings)
        assert ledger.finish_if_done(s, issue_id) is None  # the rest is pending now
        s.commit()
    assert status_counts(db, issue_id) == {"sent": 4, "pending": 6}


def test_a_dispatch_that_died_mid_snapshot_is_taken_up_where_it_stopped(app, db, session, settings, celery_app):
    receiving = _subscribers_with_gaps(session, 30)
    issue_id = make_sending_issue(session)
    session.commit()
    with db.session() as s:
        snapshot.step(s, issue_id, settings, limit=10)
        s.commit()
    with db.session() as s:  # a chunk a moment ago: its dispatch is at work
        assert issue_id not in sweep(s, settings).to_dispatch
        s.rollback()
        s.execute(update(DeliverySnapshot).values(updated_at=utcnow() - timedelta(minutes=2)))
        s.commit()
    with db.session() as s:
        assert issue_id in sweep(s, settings).to_dispatch
        s.rollback()
    assert dispatch_issue.apply((issue_id,)).get() > 0  # chains started
    assert _rows(db, issue_id) == sorted(receiving)
    queued = take_queued(celery_app, "bulk")
    assert queued and {task for task, _ in queued} == {send_batch.name}


def test_a_chain_that_ran_dry_while_the_snapshot_grows_looks_again_soon(app):
    now = utcnow()
    assert next_run(RunResult(), None, now) is None
    assert next_run(RunResult(), None, now, growing=True) == SNAPSHOT_POLL_SECONDS
    assert next_run(RunResult(stopped="paused"), None, now, growing=True) is None
    assert next_run(RunResult(more_due=True), None, now, growing=True) == 0
