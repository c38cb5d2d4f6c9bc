"""Scheduling: time zones, schedule/cancel/reschedule, the due-scan and its race, hand-off."""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, time, timedelta, timezone
from types import SimpleNamespace

import pytest
from conftest import run_in_threads
from sqlalchemy import func, select
from support.issues import FIXED, make_comparison

from newsletter.issues import drafts, scheduling, slots
from newsletter.issues.slots import SchedulingError, local_to_utc, next_slot
from newsletter.models import Delivery, Issue, IssueStatus, SendSchedule

UTC = timezone.utc


def test_local_time_in_the_schedules_zone_becomes_utc():
    assert local_to_utc(date(2026, 7, 1), time(9, 0), "Europe/Berlin") == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 1, 6), time(9, 0), "Europe/Berlin") == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert local_to_utc(date(2026, 1, 6), time(9, 0), "America/New_York") == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused_and_a_repeated_one_is_the_first():
    with pytest.raises(SchedulingError, match="does not exist"):
        local_to_utc(date(2026, 3, 29), time(2, 30), "Europe/Berlin")
    # 02:30 on 25 Oct 2026 happens twice in Berlin: first at 00:30 UTC (summer time).
    assert local_to_utc(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_unknown_time_zone_is_a_clear_error():
    with pytest.raises(SchedulingError, match="unknown time zone"):
        local_to_utc(date(2026, 1, 1), time(9), "Mars/Olympus")


def test_next_slot_keeps_local_time_across_daylight_saving():
    schedule = SendSchedule(weekday=1, send_time=time(9, 0), timezone="Europe/Berlin")
    before = next_slot(schedule, datetime(2026, 3, 20, tzinfo=UTC))  # Tue 24 March, winter time
    after = next_slot(schedule, before)  # Tue 31 March, summer time
    assert before == datetime(2026, 3, 24, 8, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    default = SendSchedule(weekday=1, send_time=time(9, 0), timezone="UTC")
    assert next_slot(default, datetime(2026, 3, 3, 9, 0, tzinfo=UTC)) == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_changing_the_weekly_slot_moves_the_drafts_planned_time(session):
    issue = drafts.refresh_draft(session, FIXED).issue
    slots.update_schedule(session, 4, time(7, 30), "Asia/Tokyo", now=FIXED)
    assert issue.scheduled_at == datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # Fri 6 March 07:30 JST
    with pytest.raises(SchedulingError):
        slots.update_schedule(session, 4, time(7, 30), "Nowhere/Land")


def scheduled_issue(session, settings, when, comparisons: int = 1) -> Issue:
    for n in range(comparisons):
        make_comparison(session, f"A{n}", f"B{n}", published_at=FIXED - timedelta(hours=n + 1))
    issue = drafts.refresh_draft(session, FIXED - timedelta(days=1)).issue
    scheduling.schedule(session, issue, when, settings, now=FIXED - timedelta(days=1))
    return issue


def test_schedule_cancel_and_reschedule(session, settings):
    issue = scheduled_issue(session, settings, FIXED)
    assert issue.status == IssueStatus.SCHEDULED and issue.scheduled_at == FIXED
    scheduling.cancel(session, issue, now=FIXED - timedelta(hours=2))
    assert issue.status == IssueStatus.DRAFT
    with pytest.raises(SchedulingError):
        scheduling.cancel(session, issue)
    scheduling.schedule(session, issue, FIXED + timedelta(hours=1), settings, 
                        now=FIXED - timedelta(hours=2))
    scheduling.schedule(session, issue, FIXED + timedelta(hours=2), settings, 
                        now=FIXED - timedelta(hours=2))
    assert issue.scheduled_at == FIXED + timedelta(hours=2)


def test_past_times_and_failing_checks_are_refused_unless_overridden(session, settings):
    issue = scheduled_issue(session, settings, FIXED)
    assert not issue.checks_overridden
    with pytest.raises(SchedulingError, match="passed"):
        scheduling.schedule(session, issue, FIXED - timedelta(hours=1), settings, now=FIXED)
    issue.items[0].comparison.url = "javascript:alert(1)"  # the link check fails
    issue.subject = " "  # and so does the subject's
    session.flush()
    with pytest.raises(SchedulingError, match="failing checks.*Links") as refused:
        scheduling.schedule(session, issue, FIXED, settings, now=FIXED)
    message = str(refused.value)
    assert "Subject: The issue has no subject. " in message and not re.search(r"[.;:]{2}|\.\s*;", message)
    scheduling.schedule(session, issue, FIXED, settings, override=True, now=FIXED)
    assert issue.checks_overridden


def test_the_callers_checks_over_every_variant_gate_too(session, settings):
    """The whole issue passes; a variant's failing check (found by `readers.previews`) still refuses."""
    issue = scheduled_issue(session, settings, FIXED)
    scheduling.cancel(session, issue, now=FIXED)
    variant_failing = ["As seen by a “Image” reader: The email cannot be rendered: boom."]
    with pytest.raises(SchedulingError, match="As seen by a “Image” reader"):
        scheduling.schedule(session, issue, FIXED, settings, failing=variant_failing, now=FIXED)
    assert issue.status == IssueStatus.DRAFT
    scheduling.schedule(session, issue, FIXED, settings, failing=variant_failing, override=True, now=FIXED)
    assert issue.status == IssueStatus.SCHEDULED and issue.checks_overridden


def test_due_scan_moves_to_sending_and_freezes_the_content(session, settings):
    issue = scheduled_issue(session, settings, FIXED)
    assert scheduling.start_due(session, settings, now=FIXED - timedelta(minutes=1)) == []
    assert scheduling.start_due(session, settings, now=FIXED) == [issue.id]
    session.refresh(issue)
    assert issue.status == IssueStatus.SENDING and issue.sending_started_at == FIXED
    assert issue.rendered_subject == "A0 vs B0" and "A0 vs B0" in issue.html and "A0 vs B0" in issue.text
    assert "__UNSUBSCRIBE_URL__" in issue.html and "__UNSUBSCRIBE_URL__" not in issue.web_html
    with pytest.raises(SchedulingError):
        scheduling.cancel(session, issue)
    with pytest.raises(drafts.DigestError):
        drafts.update_content(issue, subject="late", preheader="", intro="", intro_format="text")
    assert scheduling.start_due(session, settings, now=FIXED + timedelta(minutes=5)) == []


def test_due_issue_with_no_comparisons_is_skipped_with_a_reason(session, settings):
    issue = scheduled_issue(session, settings, FIXED)
    drafts.arrange(issue, [], {})
    session.flush()
    assert scheduling.start_due(session, settings, now=FIXED) == []
    session.refresh(issue)
    assert issue.status == IssueStatus.SKIPPED and "no comparisons" in issue.skip_reason


def test_an_edit_after_the_scan_read_the_issue_wins(session, settings, monkeypatch):
    issue = scheduled_issue(session, settings, FIXED)
    freeze = scheduling.frozen_content

    def freeze_then_edit(loaded, settings):
        content = freeze(loaded, settings)
        loaded.updated_at = FIXED + timedelta(seconds=1)  # an editor saved meanwhile
        session.flush()
        return content

    monkeypatch.setattr(scheduling, "frozen_content", freeze_then_edit)
    assert scheduling.start_due(session, settings, now=FIXED) == []
    session.refresh(issue)
    assert issue.status == IssueStatus.SCHEDULED


@pytest.mark.postgresql_only
def test_two_schedulers_at_once_start_the_issue_exactly_once(db, settings, monkeypatch):
    """Two sessions scan at the same moment; the conditional UPDATE lets one win."""
    freeze = scheduling.frozen_content
    with db.session() as session:
        issue_id = scheduled_issue(session, settings, FIXED).id
        session.commit()
    for _round in range(3):
        barrier = threading.Barrier(2)

        def freeze_together(issue, settings):
            content = freeze(issue, settings)
            barrier.wait(timeout=10)  # both have read "scheduled" before either writes
            return content

        monkeypatch.setattr(scheduling, "frozen_content", freeze_together)

        def scan():
            with db.session() as session:
                started = scheduling.start_due(session, settings, now=FIXED)
                session.commit()
                return started

        results = run_in_threads(2, scan)
        assert sorted(results) == [[], [issue_id]]
        with db.session() as session:
            assert session.get(Issue, issue_id).status == IssueStatus.SENDING
            session.execute(Issue.__table__.update().values(status="scheduled"))
            session.commit()


def test_start_due_task_hands_off_after_commit(app, db, settings, monkeypatch):
    from workers import issues as issue_tasks

    with db.session() as session:
        issue_id = scheduled_issue(session, settings, datetime.now(UTC) - timedelta(seconds=5)).id
        session.commit()
    seen = []

    def fake_hand_off(issue_id):
        with db.session() as other:  # a fresh session sees it only if committed
            seen.append((issue_id, other.get(Issue, issue_id).status))

    monkeypatch.setattr(issue_tasks, "dispatch_issue", SimpleNamespace(delay=fake_hand_off))
    monkeypatch.setattr(issue_tasks.refresh_draft, "delay", lambda: None)
    with app.app_context():
        assert issue_tasks.start_due_issues() == [issue_id]
    assert seen == [(issue_id, IssueStatus.SENDING)]
    with db.session() as session:  # the scheduler made no delivery rows itself
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def wait_until(predicate, timeout: float = 30.0):
    import time as clock

    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if predicate():
            return True
        clock.sleep(0.2)
    return False


def test_scheduler_tasks_run_on_a_real_worker(app, db, settings, celery_worker, monkeypatch):
    """Through the real broker: the due-scan starts the issue, hands it off once,
    and the draft step drafts the next issue."""
    from workers import issues as issue_tasks

    handed: list[int] = []
    monkeypatch.setattr(issue_tasks, "dispatch_issue", SimpleNamespace(delay=handed.append))
    with db.session() as session:
        issue_id = scheduled_issue(session, settings, datetime.now(UTC) - timedelta(seconds=5)).id
        session.commit()
    issue_tasks.start_due_issues.delay()
    issue_tasks.start_due_issues.delay()
    assert wait_until(lambda: handed == [issue_id])

    def next_draft_exists():
        with db.session() as session:
            upcoming = drafts.upcoming_issue(session)
            return upcoming is not None and upcoming.id != issue_id

    assert wait_until(next_draft_exists)
    assert handed == [issue_id]
