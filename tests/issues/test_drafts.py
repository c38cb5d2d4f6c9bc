"""The draft rules: one upcoming issue, which comparisons, newest first, skip when empty."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.issues import FIXED, make_comparison

from newsletter.issues import content, drafts
from newsletter.issues.drafts import DigestError, included_items, refresh_draft
from newsletter.models import Issue, IssueStatus


def titles(issue: Issue) -> list[str]:
    return [item.comparison.title for item in included_items(issue)]


def upcoming_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Issue).where(Issue.status.in_(IssueStatus.UPCOMING)))


def send_out(session, issue: Issue, at) -> None:
    issue.status = IssueStatus.SENT
    issue.sending_started_at = at
    issue.finished_at = at
    session.flush()


def test_draft_holds_new_comparisons_newest_first(session):
    make_comparison(session, "A1", "B1", published_at=FIXED - timedelta(days=3))
    make_comparison(session, "A2", "B2", published_at=FIXED - timedelta(days=1))
    make_comparison(session, "A3", "B3", published_at=FIXED - timedelta(days=2))
    result = refresh_draft(session, FIXED)
    assert result.added == 3
    assert result.issue.status == IssueStatus.DRAFT and result.issue.number == 1
    assert titles(result.issue) == ["A2 vs B2", "A3 vs B3", "A1 vs B1"]


def test_exactly_one_upcoming_issue_however_often_it_runs(session):
    make_comparison(session, "A1", "B1")
    for _ in range(3):
        refresh_draft(session, FIXED)
    assert upcoming_count(session) == 1
    issue = drafts.upcoming_issue(session)
    issue.status = IssueStatus.SCHEDULED
    session.flush()
    refresh_draft(session, FIXED)
    assert upcoming_count(session) == 1


def test_new_comparisons_join_until_scheduled_and_lead_the_editors_order(session):
    first = make_comparison(session, "A1", "B1", published_at=FIXED - timedelta(days=3))
    second = make_comparison(session, "A2", "B2", published_at=FIXED - timedelta(days=2))
    issue = refresh_draft(session, FIXED).issue
    drafts.arrange(issue, [first.id, second.id], {})
    make_comparison(session, "A3", "B3", published_at=FIXED - timedelta(hours=1))
    assert refresh_draft(session, FIXED).added == 1
    assert titles(issue) == ["A3 vs B3", "A1 vs B1", "A2 vs B2"]
    issue.status = IssueStatus.SCHEDULED
    make_comparison(session, "A4", "B4", published_at=FIXED - timedelta(minutes=5))
    refresh_draft(session, FIXED)
    assert "A4 vs B4" not in titles(issue)


def test_a_dropped_comparison_stays_dropped_and_can_be_added_back(session):
    keep = make_comparison(session, "A1", "B1")
    drop = make_comparison(session, "A2", "B2", published_at=FIXED - timedelta(days=2))
    issue = refresh_draft(session, FIXED).issue
    drafts.arrange(issue, [keep.id], {})
    refresh_draft(session, FIXED)
    assert titles(issue) == ["A1 vs B1"]
    assert drop in drafts.addable_comparisons(session, issue)
    drafts.add_comparison(session, issue, drop.id)
    assert titles(issue) == ["A1 vs B1", "A2 vs B2"]


def test_next_draft_has_only_comparisons_published_since_and_not_sent(session):
    old = make_comparison(session, "Old", "One", published_at=FIXED - timedelta(days=10))
    first = refresh_draft(session, FIXED - timedelta(days=7)).issue
    assert titles(first) == ["Old vs One"]
    send_out(session, first, FIXED - timedelta(days=7))
    make_comparison(session, "Late", "Import", published_at=FIXED - timedelta(days=8))  # before the send
    make_comparison(session, "New", "One", published_at=FIXED - timedelta(days=1))
    second = refresh_draft(session, FIXED).issue
    assert second.number == 2
    assert titles(second) == ["New vs One"]
    assert old not in [i.comparison for i in second.items]


def test_empty_draft_is_skipped_at_its_slot_with_a_reason(session):
    issue = refresh_draft(session, FIXED - timedelta(days=1)).issue
    assert issue.scheduled_at > FIXED - timedelta(days=1)
    later = issue.scheduled_at + timedelta(minutes=1)
    result = refresh_draft(session, later)
    assert result.skipped is issue
    assert issue.status == IssueStatus.SKIPPED and "No new comparisons" in issue.skip_reason
    assert result.issue.number == issue.number + 1 and result.issue.status == IssueStatus.DRAFT
    assert result.issue.scheduled_at > later


def test_a_draft_with_comparisons_is_not_skipped_when_its_slot_passes(session):
    issue = refresh_draft(session, FIXED - timedelta(days=1)).issue
    make_comparison(session, "A1", "B1")
    late = issue.scheduled_at + timedelta(hours=1)
    result = refresh_draft(session, late)
    assert result.issue is issue and result.skipped is None and issue.status == IssueStatus.DRAFT
    assert late < issue.scheduled_at <= late + timedelta(days=7)  # planned for the next slot


def test_subject_defaults_to_the_lead_comparison(session):
    make_comparison(session, "A1", "B1", published_at=FIXED - timedelta(days=2))
    issue = refresh_draft(session, FIXED).issue
    assert content.subject_of(issue) == "A1 vs B1"
    make_comparison(session, "A2", "B2")
    refresh_draft(session, FIXED)
    assert content.subject_of(issue) == "A2 vs B2 + 1 more verdict"
    drafts.update_content(issue, subject="  Hand-written  ", preheader="", intro="", intro_format="text")
    assert content.subject_of(issue) == "Hand-written"


def test_featured_reviewers_default_to_the_builder_and_can_change(session):
    comparison = make_comparison(session)
    issue = refresh_draft(session, FIXED).issue
    item = issue.items[0]
    assert (item.featured_reviewer_a, item.featured_reviewer_b) == ("builder", "builder")
    drafts.arrange(issue, [comparison.id], {comparison.id: ("skeptic", "buyer")})
    assert (item.featured_reviewer_a, item.featured_reviewer_b) == ("skeptic", "buyer")
    with pytest.raises(DigestError):
        drafts.arrange(issue, [comparison.id], {comparison.id: ("hacker", "buyer")})


def test_sent_issue_cannot_be_edited(session):
    make_comparison(session)
    issue = refresh_draft(session, FIXED).issue
    send_out(session, issue, FIXED)
    with pytest.raises(DigestError):
        drafts.update_content(issue, subject="x", preheader="", intro="", intro_format="text")
    with pytest.raises(DigestError):
        drafts.arrange(issue, [], {})
