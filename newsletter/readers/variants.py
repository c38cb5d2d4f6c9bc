"""Category variants of an issue: one rendering per distinct category set in the
audience, frozen when sending starts, and the preview "as seen by a … reader".

Per recipient it is still one splice: delivery picks the composed variant by the
key it snapshotted with the recipient.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..issues.content import included_items, load_issue
from ..issues.models import IssueStatus
from ..issues.rendering import render_issue
from ..mail.rendering import RenderedMail
from .categories import ALL, items_for
from .models import IssueVariant


def render(issue, settings: Settings, key: str) -> RenderedMail | None:
    """The issue for readers of `key`; None if nothing in it is theirs."""
    items = items_for(included_items(issue), key)
    if not items:
        return None
    return render_issue(issue, settings, items=items)


def freeze(session: Session, settings: Settings, issue_id: int, keys: set[str]) -> set[str]:
    """Render and store the variants not stored yet; return the keys that get nothing.
    Keys whose readers get the same comparisons share one rendering. A `RenderError`
    propagates (the whole issue rendered, so a part of it will)."""
    issue = load_issue(session, issue_id)
    included = included_items(issue)
    stored = {v.key: v for v in session.scalars(select(IssueVariant).where(IssueVariant.issue_id == issue_id))}
    rendered: dict[tuple[int, ...], RenderedMail] = {}
    for key in sorted(keys - set(stored) - {ALL}):
        items = items_for(included, key)
        same = tuple(item.comparison_id for item in items)
        if items and same not in rendered:
            rendered[same] = render_issue(issue, settings, items=items)
        mail = rendered.get(same)
        variant = IssueVariant(issue_id=issue_id, key=key, empty=mail is None)
        if mail is not None:
            variant.rendered_subject, variant.html, variant.text = mail.subject, mail.html, mail.text
        session.add(variant)
        stored[key] = variant
    session.flush()
    return {key for key, variant in stored.items() if variant.empty}


def frozen(session: Session, issue_id: int, key: str) -> RenderedMail | None:
    variant = session.scalar(select(IssueVariant).where(IssueVariant.issue_id == issue_id, IssueVariant.key == key))
    if variant is None or variant.empty:
        return None
    return RenderedMail(variant.rendered_subject, variant.html, variant.text)


def frozen_keys(session: Session, issue_id: int) -> list[str]:
    """The sets frozen when the issue's sending started (the whole issue's "" is not a row)."""
    return list(session.scalars(select(IssueVariant.key).where(IssueVariant.issue_id == issue_id)
                                .order_by(IssueVariant.key)))


def sent_mail(session: Session, issue, settings: Settings, key: str) -> RenderedMail | None:
    """What readers of `key` get: the frozen variant once sending started, else
    rendered now, exactly as `freeze` will."""
    if issue.status not in IssueStatus.UPCOMING:
        mail = frozen(session, issue.id, key)
        if mail is not None:
            return mail
    return render(issue, settings, key)
