"""Retention: an old issue's delivered rows become counts, the exceptions stay, and
every number an editor sees is the same before and after, however often it runs."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support.delivery import make_finished_issue, make_subscribers

from newsletter.cli import main
from newsletter.delivery import report as reports
from newsletter.delivery import retention
from newsletter.feedback import stats
from newsletter.models import Delivery, DeliveryRollup, FeedbackEvent
from workers.delivery import roll_up_deliveries


def complain_about_one_copy(session, issue_id: int) -> int:
    copy = session.scalar(select(Delivery).where(Delivery.issue_id == issue_id, Delivery.status == "sent")
                          .order_by(Delivery.id.desc()).limit(1))
    session.add(FeedbackEvent(source="smtp", event_key=f"arf-{copy.id}", kind="complaint", delivery_id=copy.id,
                              issue_id=issue_id, subscriber_id=copy.subscriber_id, email="x@example.com"))
    session.flush()
    return copy.id


def seen(session, issue_id: int) -> tuple:
    """Everything the delivery page, `newsletter status` and the feedback panel show."""
    report = reports.report(session, issue_id)
    as_dict = report.as_dict()
    return as_dict, report.last_sent_at, stats.for_issue(session, issue_id).as_dict()


def rows_left(session, issue_id: int) -> dict[str, int]:
    return dict(session.execute(select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id)
                                .group_by(Delivery.status)).all())


def rollup(session, issue_id: int) -> dict[tuple[str, str], int]:
    return {(r.variant, r.status): r.count
            for r in session.scalars(select(DeliveryRollup).where(DeliveryRollup.issue_id == issue_id))}


@pytest.fixture
def issues(session):
    subscribers = make_subscribers(session, 40)
    old = make_finished_issue(session, subscribers, 1, days_ago=45)
    recent = make_finished_issue(session, subscribers, 2, days_ago=5)
    complained = complain_about_one_copy(session, old)
    session.commit()
    return old, recent, complained


def test_counts_unchanged_exceptions_kept_and_a_rerun_adds_nothing(session, issues):
    old, recent, complained = issues
    before, before_recent = seen(session, old), seen(session, recent)
    assert before[0]["counts"]["sent"] == 23 and before[2]["complaints"]["count"] == 1

    done = retention.roll_up(session, 30, lambda rows: session.commit(), batch=7)  # several batches
    session.commit()

    assert done.issues == [old] and done.rows == 23 - 1 + 3 + 2 and not done.more
    assert rows_left(session, old) == {"bounced": 3, "failed": 2, "sent": 1}  # the complained copy stays
    assert session.get(Delivery, complained).status == "sent"
    assert session.scalar(select(FeedbackEvent.delivery_id).where(FeedbackEvent.kind == "complaint")) == complained
    assert rollup(session, old) == {("", "sent"): 14, ("ai", "sent"): 8, ("ai", "empty"): 3, ("", "skipped"): 2}
    assert seen(session, old) == before
    assert seen(session, recent) == before_recent and rollup(session, recent) == {}

    again = retention.roll_up(session, 30, lambda rows: session.commit())
    session.commit()
    assert again.rows == 0 and again.issues == []
    assert rollup(session, old) == {("", "sent"): 14, ("ai", "sent"): 8, ("ai", "empty"): 3, ("", "skipped"): 2}
    assert seen(session, old) == before


def test_a_batch_adds_exactly_what_it_deleted(session, issues):
    """Counts live in the transaction that deletes the rows: a rolled-back batch
    leaves both the rows and the counts as they were."""
    old, _, _ = issues
    before = seen(session, old)
    assert retention.roll_up_batch(session, old, 5) == 5
    assert sum(rollup(session, old).values()) == 5
    session.rollback()
    assert rollup(session, old) == {} and seen(session, old) == before
    assert retention.roll_up_batch(session, old, 5) == 5
    session.commit()
    assert retention.roll_up_batch(session, old, 1000) == 22 - 5 + 3 + 2
    session.commit()
    assert retention.roll_up_batch(session, old, 1000) == 0
    assert seen(session, old) == before


@pytest.mark.postgresql_only
def test_two_runs_at_once_count_every_row_once(db, session, issues):
    """The second run skips the rows the first holds (SKIP LOCKED) and waits for its
    counts at the rollup's unique key; together they count every row once."""
    old, _, _ = issues
    before = seen(session, old)
    session.close()
    taken = {}

    def second_run():
        with db.session() as second:
            taken["second"] = retention.roll_up_batch(second, old, 1000)
            second.commit()

    with db.session() as first:
        taken["first"] = retention.roll_up_batch(first, old, 10)
        thread = threading.Thread(target=second_run)
        thread.start()
        first.commit()
    thread.join(60)
    assert taken == {"first": 10, "second": 22 + 3 + 2 - 10}
    with db.session() as check:
        assert sum(rollup(check, old).values()) == 27
        assert seen(check, old) == before


def test_the_periodic_task_and_the_command(app, env, session, issues):
    old, recent, _ = issues
    before = seen(session, old)
    session.close()
    assert roll_up_deliveries.apply().get() == 27
    assert roll_up_deliveries.apply().get() == 0
    result = CliRunner().invoke(main, ["roll-up-deliveries", "--days", "3"], env=env, catch_exceptions=False)
    assert result.exit_code == 2 and "30" in result.output  # never below the sender-health window
    result = CliRunner().invoke(main, ["roll-up-deliveries"], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and "rolled up 0 delivery rows of 0 issues" in result.output
    session.expire_all()
    assert seen(session, old) == before and rollup(session, recent) == {}
