"""The delivery engine in-process: the ledger's state machine, SMTP replies, and
sends through a real worker (threads) to the real test SMTP server."""
from __future__ import annotations

import secrets
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from support.delivery import (
    FAST_RETRIES,
    address,
    drive,
    issue_status,
    make_sending_issue,
    make_subscribers,
    recipients,
    status_counts,
)

from newsletter.config import load_settings
from newsletter.delivery import control, engine, ledger, pacing, sweep
from newsletter.delivery.batch import Batch, RunResult
from newsletter.delivery import report as reports
from newsletter.models import Delivery, Issue, Subscriber
from workers.delivery import dispatch_issue, sweep_deliveries


@pytest.fixture
def env(env):
    return {**env, **FAST_RETRIES, "SEND_BATCH_SIZE": "20", "SEND_PARALLEL_BATCHES": "3"}


@pytest.fixture
def worker(worker_process):
    """A real `celery worker` process (threads pool); tasks wait in the broker until it is up."""
    return worker_process("--pool", "threads", "--concurrency", "2")


@pytest.mark.worker
def test_send_to_everyone_once(app, db, session, smtp, worker):
    make_subscribers(session, 45)
    issue_id = make_sending_issue(session)
    session.commit()
    dispatch_issue.delay(issue_id)
    dispatch_issue.delay(issue_id)  # the hand-off may happen twice
    assert drive(db, issue_id, timeout=60) == "sent"
    got = recipients(smtp)
    assert sorted(got) == [address(i) for i in range(45)] and set(got.values()) == {1}
    assert status_counts(db, issue_id) == {"sent": 45}
    message = smtp.messages()[0]
    assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in message.html and message.envelope_to[0] in message.text
    with db.session() as s:
        assert s.get(Issue, issue_id).finished_at is not None
        report = reports.report(s, issue_id)
    assert report.delivered == 45 and report.bounced == 0 and report.failed == 0


@pytest.mark.worker
def test_5xx_bounces_exactly_those_and_4xx_retries(app, db, session, smtp, worker):
    make_subscribers(session, 30)
    issue_id = make_sending_issue(session)
    session.commit()
    refused = {address(3), address(17)}
    throttled = {address(5), address(22), address(29)}
    for a in refused:
        smtp.refuse[a] = "550 5.1.1 no such user"
    for a in throttled:
        smtp.refuse[a] = "451 4.3.0 try again later"  # 4.7.x would be a throttle: no attempt spent
    dispatch_issue.delay(issue_id)
    def throttled_attempts():
        with db.session() as s:
            return s.scalars(select(Delivery.attempts).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                             .where(Subscriber.email.in_(throttled), Delivery.status != "sent")).all()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (len(throttled_attempts()) == 3 and min(throttled_attempts()) >= 2):
        sweep_deliveries.apply()  # as beat would, should the hint be slow to arrive
        time.sleep(0.3)
    assert len(throttled_attempts()) == 3 and min(throttled_attempts()) >= 2  # refused, retried, refused
    for a in throttled:  # the relay stops throttling
        del smtp.refuse[a]
    assert drive(db, issue_id, timeout=60) == "sent"
    got = recipients(smtp)
    assert set(got) == {address(i) for i in range(30)} - refused and set(got.values()) == {1}
    assert status_counts(db, issue_id) == {"sent": 28, "bounced": 2}
    with db.session() as s:
        bounced = dict(s.execute(select(Subscriber.email, Subscriber.status)).all())
        assert {a for a, st in bounced.items() if st == "bounced"} == refused
        retried = s.scalars(select(Delivery.attempts).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                            .where(Subscriber.email.in_(throttled))).all()
        assert all(n >= 2 for n in retried)
        report = reports.report(s, issue_id)
    assert report.bounced == 2 and "550 5.1.1 no such user" in report.reasons[0][0]


@pytest.mark.worker
def test_every_message_refused_is_not_sent(app, db, session, smtp, worker):
    make_subscribers(session, 4)
    issue_id = make_sending_issue(session)
    session.commit()
    for i in range(4):
        smtp.refuse[address(i)] = "550 5.1.1 no such user"
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=30, until=("sent", "failed")) == "failed"
    with db.session() as s:
        report = reports.report(s, issue_id)
    assert report.status == "failed" and report.delivered == 0 and report.bounced == 4


def test_unsubscribe_before_claim_gets_nothing(app, db, session, smtp, settings):
    ids = make_subscribers(session, 30)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    with db.session() as s:
        first = ledger.claim(s, settings, issue_id)  # 20 rows claimed (batch size 20)
        s.commit()
    claimed = {row.subscriber_id for row in first.rows}
    late = next(i for i in ids if i not in claimed)
    session.execute(update(Subscriber).where(Subscriber.id == late).values(status="unsubscribed"))
    session.commit()
    with db.session() as s:  # hand the first batch back, then send everything
        ledger.release(s, first.lease, [r.delivery_id for r in first.rows])
        s.commit()
    result = engine.run(db, settings, issue_id)
    assert result.sent == 29 and result.skipped == 1
    got = recipients(smtp)
    with db.session() as s:
        late_email = s.get(Subscriber, late).email
    assert late_email not in got and len(got) == 29
    assert status_counts(db, issue_id) == {"sent": 29, "skipped": 1}


def test_a_batch_claimed_ahead_goes_back_when_the_run_ends(app, db, session, smtp, env):
    """One group: its next batch is claimed while one sends. A run whose budget is
    spent after that batch hands the next one back untried, not left under a lease."""
    settings = load_settings({**env, "PACING_GROUPS": ""})
    make_subscribers(session, 60)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    result = engine.run(db, settings, issue_id, budget_seconds=0)
    assert result.sent == 20 and result.more_due
    assert status_counts(db, issue_id) == {"sent": 20, "pending": 40}
    with db.session() as s:
        assert s.scalar(select(func.max(Delivery.attempts)).where(Delivery.status == "pending")) == 0
    assert engine.run(db, settings, issue_id).sent == 40
    got = recipients(smtp)
    assert len(got) == 60 and set(got.values()) == {1}


def test_a_batch_claimed_ahead_and_handed_back_gives_its_grant_back(app, db, session, smtp, env):
    """Under a warm-up cap, the day counts what was sent, not what was claimed ahead and
    handed back: the next run may still send the rest of the day's cap."""
    settings = load_settings({**env, "PACING_GROUPS": "", "PACING_LIMITS": "other=0/0/50",
                              "PACING_WARMUP_START": date.today().isoformat(),
                              "REDIS_KEY_PREFIX": f"{env['REDIS_KEY_PREFIX']}-{secrets.token_hex(3)}"})
    make_subscribers(session, 60)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    assert engine.run(db, settings, issue_id, budget_seconds=0).sent == 20
    pacer = pacing.pacer(settings)
    try:
        assert pacer.used_today("other") == 20
    finally:
        pacer.close()
    result = engine.run(db, settings, issue_id)
    assert result.sent == 30 and result.stopped == "paced"
    assert status_counts(db, issue_id) == {"sent": 50, "pending": 10}


def _claimed(db, session, settings, count: int):
    """An issue snapshotted for `count` new subscribers and its first batch claimed
    (committed): (issue id, the claim)."""
    make_subscribers(session, count)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    with db.session() as s:
        claim = ledger.claim(s, settings, issue_id)
        s.commit()
    return issue_id, claim


def _claim_and_let_lapse(db, session, settings, count: int):
    """A claimed batch whose holder went quiet: its lease ran out long ago."""
    issue_id, claim = _claimed(db, session, settings, count)
    with db.session() as s:
        claim.lease = claim.lease.replace(year=2000)
        s.execute(update(Delivery).values(lease_expires_at=claim.lease))
        s.commit()
    return issue_id, claim


def test_sweeper_recovers_expired_lease(app, db, session, settings):
    issue_id, _ = _claim_and_let_lapse(db, session, settings, 5)
    with db.session() as s:
        swept = sweep.sweep(s, settings)
        s.commit()
    assert swept.expired == 5 and swept.to_dispatch == [issue_id]
    assert status_counts(db, issue_id) == {"deferred": 5}


def test_renewing_rows_the_sweeper_took_back_gives_no_lease(app, db, session, settings):
    """A worker cut off past its lease learns on its next renewal that the rows are
    no longer its own, and keeps the old lease, which its own clock sees run out."""
    issue_id, claim = _claim_and_let_lapse(db, session, settings, 3)
    with db.session() as s:
        sweep.sweep(s, settings)
        assert ledger.renew(s, settings, claim.lease, [r.delivery_id for r in claim.rows]) is None
        s.commit()
    assert status_counts(db, issue_id) == {"deferred": 3}


def test_renewing_extends_only_rows_still_in_hand(app, db, session, settings):
    issue_id, claim = _claimed(db, session, settings, 4)
    with db.session() as s:
        first, *rest = claim.rows
        ledger.record(s, settings, claim.lease, [ledger.RowResult(first.delivery_id, first.subscriber_id,
                                                                  first.attempts, "sent", "250 ok")])
        later = claim.lease + timedelta(seconds=30)
        renewed = ledger.renew(s, settings, claim.lease, [r.delivery_id for r in claim.rows],
                               now=later - timedelta(seconds=settings.send_lease_seconds))
        s.commit()
    assert renewed == later
    leases = dict(session.execute(select(Delivery.id, Delivery.lease_expires_at)
                                  .where(Delivery.issue_id == issue_id)).all())
    assert leases[first.delivery_id] is None  # recorded: not held any more
    assert {leases[r.delivery_id] for r in rest} == {later}
    # The old lease no longer fences anything: its writes are ignored, the new one's land.
    with db.session() as s:
        ledger.record(s, settings, claim.lease, [ledger.RowResult(rest[0].delivery_id, rest[0].subscriber_id,
                                                                  rest[0].attempts, "sent", "250 ok")])
        ledger.record(s, settings, renewed, [ledger.RowResult(rest[1].delivery_id, rest[1].subscriber_id,
                                                              rest[1].attempts, "sent", "250 ok")])
        s.commit()
    assert status_counts(db, issue_id) == {"sent": 2, "sending": 2}


def test_pause_resume_cancel(app, db, session, settings, smtp):
    make_subscribers(session, 10)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    assert control.pause(session, issue_id)
    session.commit()
    assert engine.run(db, settings, issue_id).stopped == "not sending"
    assert status_counts(db, issue_id) == {"pending": 10} and not smtp.messages()
    assert control.resume(session, issue_id)
    session.commit()
    assert engine.run(db, settings, issue_id).sent == 10
    with db.session() as s:
        assert ledger.finish_if_done(s, issue_id) == "sent"
        s.commit()
        with pytest.raises(control.DeliveryError):
            control.cancel(s, issue_id)


def test_cancel_skips_what_is_left(app, db, session, smtp):
    make_subscribers(session, 10)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    assert control.cancel(session, issue_id) == 10
    session.commit()
    assert issue_status(db, issue_id) == "cancelled"
    assert status_counts(db, issue_id) == {"skipped": 10}


def test_status_command_shows_the_report(app, db, session, settings, smtp, env):
    from click.testing import CliRunner

    from newsletter.cli import main

    make_subscribers(session, 5)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    smtp.refuse[address(2)] = "550 5.1.1 no such user"
    engine.run(db, settings, issue_id)
    with db.session() as s:
        ledger.finish_if_done(s, issue_id)
        s.commit()
    result = CliRunner().invoke(main, ["status", str(issue_id)], env=env)
    assert result.exit_code == 0, result.output
    assert "sent" in result.output and "delivered 4, bounced 1, failed 0" in result.output
    assert "550 5.1.1 no such user" in result.output and "duration" in result.output
    latest = CliRunner().invoke(main, ["status"], env=env)
    assert f"(id {issue_id})" in latest.output


def test_default_retries_span_more_than_a_day(env):
    defaults = load_settings({k: v for k, v in env.items() if not k.startswith("SEND_")})
    waits = [ledger.backoff(defaults, n) for n in range(1, defaults.send_max_attempts)]
    assert sum(waits) > 24 * 3600 and max(waits) <= defaults.send_retry_max_seconds * 1.25


def test_last_attempt_fails_with_its_reason(app, db, session, env):
    settings = load_settings({**env, "SEND_MAX_ATTEMPTS": "1"})
    make_subscribers(session, 2)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.commit()
    with db.session() as s:
        claim = ledger.claim(s, settings, issue_id)
        outcomes = [ledger.RowResult(r.delivery_id, r.subscriber_id, r.attempts, "deferred", "451 4.3.0 busy")
                    for r in claim.rows]
        assert ledger.record(s, settings, claim.lease, outcomes) == []
        assert ledger.finish_if_done(s, issue_id) == "failed"
        s.commit()
        report = reports.report(s, issue_id)
    assert report.failed == 2 and report.reasons == [("gave up after 1 attempts: 451 4.3.0 busy", 2)]


def test_a_reused_issue_id_never_sends_the_old_content(app, db, session, settings, smtp):
    """A worker keeps the frozen message per process. After the database is reset
    (a restore, a re-created dev database, the test suite) the same id is a new
    issue: its own content must go out, not the cached one."""
    make_subscribers(session, 2)
    issue_id = make_sending_issue(session, subject="First issue")
    ledger.start(session, issue_id)
    session.commit()
    assert engine.run(db, settings, issue_id).sent == 2

    session.execute(Delivery.__table__.delete())
    session.execute(Issue.__table__.delete())
    session.commit()
    again = make_sending_issue(session, subject="Second issue")
    session.execute(update(Issue).where(Issue.id == again).values(id=issue_id))
    session.commit()
    ledger.start(session, issue_id)
    session.commit()
    smtp.clear()
    assert engine.run(db, settings, issue_id).sent == 2
    assert sorted(m.subject for m in smtp.wait_for(2)) == ["Second issue", "Second issue"]


def test_start_counts_the_rows_it_added(app, db, session):
    make_subscribers(session, 3)
    issue_id = make_sending_issue(session)
    assert ledger.start(session, issue_id) == 3
    assert ledger.start(session, issue_id) == 0  # the snapshot happens once
    session.commit()
    assert status_counts(db, issue_id) == {"pending": 3}


def test_start_with_nobody_to_send_to_closes_the_issue(app, db, session):
    issue_id = make_sending_issue(session)
    assert ledger.start(session, issue_id) == 0
    session.commit()
    assert issue_status(db, issue_id) == "sent"


def test_accepted_copies_are_written_in_one_statement_each_with_its_reply(app, db, session, settings):
    """Real relays name a queue id in each 250 ("queued as 4XyZ…"): the write of a
    batch's accepted copies must still be one statement, and keep every reply."""
    _, claim = _claimed(db, session, settings, 6)
    outcomes = [ledger.RowResult(r.delivery_id, r.subscriber_id, r.attempts, "sent", f"250 2.0.0 Ok: queued as Q{n}")
                for n, r in enumerate(claim.rows)]
    updates: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        updates.extend([statement] if statement.lstrip().upper().startswith("UPDATE DELIVERIES") else [])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as s:
            ledger.record(s, settings, claim.lease, outcomes)
            s.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(updates) == 1
    with db.session() as s:
        rows = dict(s.execute(select(Delivery.id, Delivery.last_reply).where(Delivery.status == "sent")).all())
    assert rows == {o.delivery_id: o.reply for o in outcomes}


@pytest.mark.postgresql_only
def test_a_write_of_accepted_copies_alone_is_one_statement_outside_any_transaction(app, db, session, settings):
    """The engine's usual write, every copy accepted, is one round trip: one UPDATE on
    an autocommit connection, no BEGIN or COMMIT. A write with anything else in it
    (a bounce suppresses an address too) keeps its transaction."""
    issue_id, claim = _claimed(db, session, settings, 6)
    seen: list[tuple[str, bool]] = []

    def watch(_conn, cursor, statement, *_args):
        seen.append((statement.split()[0].upper(), cursor.connection.autocommit))

    event.listen(Engine, "before_cursor_execute", watch)
    try:
        batch = Batch(db, settings, claim, RunResult(), issue_id)  # no writer thread: writes here
        for row in claim.rows[:3]:
            batch.add(row, "sent", f"250 2.0.0 Ok: queued as Q{row.delivery_id}")
        batch.flush()
        alone, seen[:] = list(seen), []
        batch.add(claim.rows[3], "sent", "250 2.0.0 Ok")
        batch.add(claim.rows[4], "bounced", "550 5.1.1 no such user")
        batch.flush()
    finally:
        event.remove(Engine, "before_cursor_execute", watch)
    assert alone == [("UPDATE", True)]
    assert seen and not any(autocommit for _, autocommit in seen)
    assert status_counts(db, issue_id) == {"sent": 4, "bounced": 1, "sending": 1}
    with db.session() as s:
        replies = dict(s.execute(select(Delivery.id, Delivery.last_reply).where(Delivery.status == "sent")).all())
    assert replies[claim.rows[0].delivery_id] == f"250 2.0.0 Ok: queued as Q{claim.rows[0].delivery_id}"


@pytest.mark.postgresql_only
def test_accepted_copies_under_a_lease_no_longer_ours_are_not_written(app, db, session, settings):
    issue_id, claim = _claimed(db, session, settings, 2)
    outcomes = [ledger.RowResult(r.delivery_id, r.subscriber_id, r.attempts, "sent", "250 ok") for r in claim.rows]
    with db.autocommit() as connection:
        ledger.record_accepted(connection, claim.lease - timedelta(seconds=1), outcomes)
    assert status_counts(db, issue_id) == {"sending": 2}
    with db.autocommit() as connection:
        ledger.record_accepted(connection, claim.lease, outcomes)
    assert status_counts(db, issue_id) == {"sent": 2}


def test_record_accepted_wants_postgresql_arrays(db):
    if db.is_postgresql:
        pytest.skip("SQLite's refusal; PostgreSQL takes it (the tests above)")
    with db.session() as s, pytest.raises(ValueError, match="PostgreSQL"):
        ledger.record_accepted(s.connection(), ledger.utcnow(), [])
