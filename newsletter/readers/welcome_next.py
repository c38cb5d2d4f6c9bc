"""The "a welcome counts as already sent" setting: when editors turn it on, the
comparisons a reader got in their welcome are left out of their next issue.

Decided at the issue's snapshot (`delivery.categories`), like the category
variants: a reader whose welcome carried some of the issue's comparisons gets a
variant key naming them (`categories.with_left_out`), rendered once per distinct
key. Each welcome is taken into account for one issue only, the first whose
snapshot holds its reader after it was sent (`applied_issue_id`); off (the
default), every reader of a category set gets the same issue.
"""
from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..issues.models import IssueItem
from .models import Welcome, WelcomeStatus
from .welcome_mail import get_settings


def left_out(session: Session, issue_id: int) -> dict[int, set[int]]:
    """Per subscriber whose sent welcome is not yet taken into account (or was for this
    issue): the issue's comparisons it carried, maybe none. Empty while the setting is off."""
    if not get_settings(session).counts_as_sent:
        return {}
    in_issue = set(session.scalars(select(IssueItem.comparison_id).where(
        IssueItem.issue_id == issue_id, IssueItem.dropped.is_(False))))
    rows = session.execute(select(Welcome.subscriber_id, Welcome.comparison_ids).where(
        Welcome.status == WelcomeStatus.SENT, Welcome.comparison_ids != "",
        or_(Welcome.applied_issue_id.is_(None), Welcome.applied_issue_id == issue_id)))
    return {row.subscriber_id: {int(i) for i in row.comparison_ids.split(",")} & in_issue for row in rows}


def applied(session: Session, issue_id: int, subscriber_ids: list[int]) -> None:
    """These readers' welcomes were taken into account for this issue, their next."""
    if subscriber_ids:
        session.execute(update(Welcome).where(Welcome.subscriber_id.in_(subscriber_ids),
                                              Welcome.applied_issue_id.is_(None))
                        .values(applied_issue_id=issue_id).execution_options(synchronize_session=False))
