"""The draft: the one upcoming issue and which comparisons it holds.

Rules (issue 4):
- at most one issue is upcoming (draft or scheduled); the draft step makes one
  when there is none;
- a draft holds the comparisons published since the previous issue went out that
  no issue that went out already had, newest first; new ones join until it is
  scheduled, ahead of the editor's order; one an editor dropped stays dropped;
- a draft still empty when its weekly slot comes is skipped, with a reason the
  editors see, and the next week's draft takes its place.

"Went out" (`IssueStatus.WENT_OUT`) means sending, paused or sent: once delivery
started, those comparisons reached readers.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..comparisons.models import REVIEWERS, Comparison
from ..db import utcnow
from . import lifecycle
from .content import included_items
from .models import IntroFormat, Issue, IssueItem, IssueStatus, SendSchedule
from .slots import get_schedule, next_slot


class DigestError(ValueError):
    """An editor's change that the draft's rules do not allow."""


@dataclass(frozen=True)
class DraftResult:
    issue: Issue
    added: int
    skipped: Issue | None = None


def upcoming_issue(session: Session) -> Issue | None:
    return session.scalar(
        select(Issue).where(Issue.status.in_(IssueStatus.UPCOMING)).order_by(Issue.number).limit(1)
    )


def previous_issue(session: Session) -> Issue | None:
    """The last issue that went out, for its number and start time."""
    return session.scalar(
        select(Issue).where(Issue.status.in_(IssueStatus.WENT_OUT)).order_by(Issue.sending_started_at.desc().nulls_last()).limit(1)
    )


def eligible_comparisons(session: Session) -> list[Comparison]:
    """Published since the previous issue went out and in no issue that went out."""
    already_sent = (
        select(IssueItem.comparison_id)
        .join(Issue, Issue.id == IssueItem.issue_id)
        .where(Issue.status.in_(IssueStatus.WENT_OUT), IssueItem.dropped.is_(False))
    )
    query = select(Comparison).where(Comparison.id.not_in(already_sent))
    previous = previous_issue(session)
    if previous is not None and previous.sending_started_at is not None:
        query = query.where(Comparison.published_at > previous.sending_started_at)
    return list(session.scalars(query.order_by(Comparison.published_at.desc(), Comparison.id.desc())))


def _new_draft(session: Session, schedule: SendSchedule, now: datetime) -> Issue:
    number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
    issue = Issue(number=number, status=IssueStatus.DRAFT, scheduled_at=next_slot(schedule, now))
    session.add(issue)
    session.flush()
    return issue


def refresh_draft(session: Session, now: datetime | None = None) -> DraftResult:
    """The periodic draft step (and `newsletter draft`): safe to run at any time."""
    now = now or utcnow()
    schedule = get_schedule(session)
    issue = upcoming_issue(session)
    skipped = None
    if issue is not None and issue.status == IssueStatus.DRAFT:
        added = _add_new_comparisons(session, issue)
        slot_passed = issue.scheduled_at is not None and issue.scheduled_at <= now
        if slot_passed and not included_items(issue):
            lifecycle.move(session, issue.id, "skip", finished_at=now,
                           skip_reason="No new comparisons were published for this week's slot.")
            skipped, issue = issue, None
        else:
            if slot_passed:  # nobody scheduled it in time: plan it for the next slot
                issue.scheduled_at = next_slot(schedule, now)
            return DraftResult(issue, added)
    if issue is None:
        issue = _new_draft(session, schedule, now)
        return DraftResult(issue, _add_new_comparisons(session, issue), skipped)
    return DraftResult(issue, 0, skipped)


def _add_new_comparisons(session: Session, issue: Issue) -> int:
    known = {item.comparison_id for item in issue.items}
    new = [c for c in eligible_comparisons(session) if c.id not in known]
    if not new:
        return 0
    order = [IssueItem(comparison=c) for c in new] + list(issue.items)
    for item in order[: len(new)]:
        issue.items.append(item)
    for position, item in enumerate(order):
        item.position = position
    issue.items.sort(key=lambda item: item.position)
    session.flush()
    return len(new)


def _editable(issue: Issue) -> None:
    """Refuse edits once sending started; mark the edit so a due-scan that read
    the issue before it does not freeze the older content."""
    if issue.status not in IssueStatus.UPCOMING:
        raise DigestError(f"issue #{issue.number} is {issue.status}; it can no longer be changed")
    issue.updated_at = utcnow()


def update_content(issue: Issue, *, subject: str, preheader: str, intro: str, intro_format: str) -> None:
    _editable(issue)
    if intro_format not in tuple(IntroFormat):
        raise DigestError("the intro is plain text or Markdown")
    for label, value in (("subject", subject), ("preheader", preheader)):
        if len(value.strip()) > 300:
            raise DigestError(f"the {label} is {len(value.strip())} characters long; at most 300 fit")
        if not value.strip().isprintable():
            raise DigestError(f"the {label} is one line of text, without line breaks or control characters")
    issue.subject, issue.preheader = subject.strip(), preheader.strip()
    issue.intro, issue.intro_format = intro.strip(), intro_format


def arrange(issue: Issue, order: list[int], featured: dict[int, tuple[str, str]]) -> None:
    """Keep the comparisons listed in `order` (ids) in that order; drop the rest.

    `featured` maps a comparison id to the reviewers quoted for tool A and B.
    """
    _editable(issue)
    by_comparison = {item.comparison_id: item for item in issue.items}
    if len(set(order)) != len(order) or any(cid not in by_comparison for cid in order):
        raise DigestError("the list of comparisons does not match this issue; reload the page")
    for item in issue.items:
        item.dropped = item.comparison_id not in order
    for position, cid in enumerate(order):
        by_comparison[cid].position = position
    for position, item in enumerate(i for i in issue.items if i.dropped):
        item.position = len(order) + position
    for cid, (reviewer_a, reviewer_b) in featured.items():
        if cid not in by_comparison or reviewer_a not in REVIEWERS or reviewer_b not in REVIEWERS:
            raise DigestError("unknown comparison or reviewer")
        by_comparison[cid].featured_reviewer_a = reviewer_a
        by_comparison[cid].featured_reviewer_b = reviewer_b
    issue.items.sort(key=lambda item: item.position)


def add_comparison(session: Session, issue: Issue, comparison_id: int) -> None:
    """Add (or bring back) a comparison at the end of the issue."""
    _editable(issue)
    if session.get(Comparison, comparison_id) is None:
        raise DigestError("no such comparison")
    last = max((item.position for item in issue.items), default=-1) + 1
    for item in issue.items:
        if item.comparison_id == comparison_id:
            item.dropped, item.position = False, last
            break
    else:
        issue.items.append(IssueItem(comparison_id=comparison_id, position=last))
    session.flush()
    issue.items.sort(key=lambda item: item.position)


def addable_comparisons(session: Session, issue: Issue, limit: int = 50) -> list[Comparison]:
    """Comparisons an editor may add: any not already in the issue, newest first."""
    included = [item.comparison_id for item in included_items(issue)]
    query = select(Comparison).order_by(Comparison.published_at.desc()).limit(limit)
    if included:
        query = query.where(Comparison.id.not_in(included))
    return list(session.scalars(query))


