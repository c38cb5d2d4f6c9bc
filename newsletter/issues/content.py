"""What an issue holds and says: loading it whole, its comparisons, subject and preheader.

Plain reads of an `Issue`, shared by the draft rules, the rendering, the checks
and the editor pages.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..comparisons.models import Comparison, Tool
from .models import Issue, IssueItem


def whole():
    """The loader option that brings everything rendering needs, in a few queries."""
    return (selectinload(Issue.items).selectinload(IssueItem.comparison)
            .selectinload(Comparison.tools).selectinload(Tool.reviews))


def load_issue(session: Session, issue_id: int) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.id == issue_id).options(whole()))


def included_items(issue: Issue) -> list[IssueItem]:
    return [item for item in issue.items if not item.dropped]


def default_subject(issue: Issue, items: list[IssueItem] | None = None) -> str:
    """The lead comparison's title, and how many more follow (of `items`, by default
    the issue's)."""
    items = included_items(issue) if items is None else items
    if not items:
        return ""
    lead = items[0].comparison.title
    more = len(items) - 1
    return lead if more == 0 else f"{lead} + {more} more verdict{'s' if more > 1 else ''}"


def subject_of(issue: Issue, items: list[IssueItem] | None = None) -> str:
    return issue.subject or default_subject(issue, items)


def preheader_of(issue: Issue, items: list[IssueItem] | None = None) -> str:
    if issue.preheader:
        return issue.preheader
    items = included_items(issue) if items is None else items
    return items[0].comparison.standfirst[:200] if items else ""
