"""What the welcome mail says: the editors' settings, the comparisons it carries, its rendering.

A new reader has missed what came before, so the welcome catches them up: the
comparisons of the most recent issue that went out, in their categories and in
the editor's order with the editor's quotes; if no issue went out yet (or it
held nothing in their categories), the comparisons published in the last N days
in their categories, newest first. At most `MAX_COMPARISONS`, so the mail stays
well under the size where Gmail clips it. Nothing to carry at all is no mail: the
ledger records the row as `empty` rather than sending a welcome with a hole in it.

Rendered per reader (their name, their categories), with the same placeholders
as an issue for the unsubscribe and manage links and the address, so the
composer fills them like an issue's. The comparison links go straight to the site:
click counting is per issue, and a welcome is none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..comparisons.models import Comparison, Reviewer, Tool
from ..config import Settings
from ..db import insert_for, utcnow
from ..issues.content import included_items, whole
from ..issues.models import Issue, IssueStatus
from ..issues.rendering import comparison_context
from ..mail.rendering import RenderedMail, intro_html, placeholders, render_mjml, render_text, safe_link
from .categories import ALL, chosen, items_for
from .models import WelcomeSettings

MAX_COMPARISONS = 10
MAX_CATCHUP_DAYS = 365
MAX_INTRO = 5000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WelcomeSettingsError(ValueError):
    """An editor's welcome setting that cannot be stored; the message says which."""


@dataclass
class Content:
    """What one reader's welcome carries: (comparison, featured reviewers) in order."""

    comparisons: list[tuple[Comparison, tuple[str, str]]] = field(default_factory=list)
    issue: Issue | None = None  # the issue they come from; None: the last N days
    days: int = 0

    @property
    def ids(self) -> list[int]:
        return [comparison.id for comparison, _ in self.comparisons]


def get_settings(session: Session) -> WelcomeSettings:
    """The settings row, made with its defaults on first use (two first uses at once make one)."""
    row = session.get(WelcomeSettings, 1)
    if row is None:
        session.execute(insert_for(session)(WelcomeSettings).values(
            id=1, enabled=True, subject="", intro="", catchup_days=14, counts_as_sent=False, updated_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["id"]))
        row = session.get(WelcomeSettings, 1)
    return row


def update_settings(session: Session, *, enabled: bool, subject: str, intro: str, catchup_days: str,
                    counts_as_sent: bool) -> WelcomeSettings:
    """The editor's form; `WelcomeSettingsError` stores nothing."""
    subject = subject.strip()
    if len(subject) > 300:
        raise WelcomeSettingsError("The subject is longer than 300 characters.")
    if _CONTROL.search(subject):
        raise WelcomeSettingsError("The subject must be one line of text.")
    intro = intro.replace("\r\n", "\n").strip()
    if len(intro) > MAX_INTRO:
        raise WelcomeSettingsError(f"The intro is longer than {MAX_INTRO} characters.")
    if _CONTROL.search(intro.replace("\n", "").replace("\t", "")):
        raise WelcomeSettingsError("The intro holds control characters.")
    try:
        days = int(catchup_days.strip())
    except ValueError:
        raise WelcomeSettingsError("Catch-up days must be a whole number.") from None
    if not 1 <= days <= MAX_CATCHUP_DAYS:
        raise WelcomeSettingsError(f"Catch-up days must be between 1 and {MAX_CATCHUP_DAYS}.")
    row = get_settings(session)
    row.enabled, row.subject, row.intro = enabled, subject, intro
    row.catchup_days, row.counts_as_sent = days, counts_as_sent
    session.flush()
    return row


def latest_issue(session: Session) -> Issue | None:
    """The most recent issue whose comparisons reached readers (sending, paused or sent)."""
    return session.scalar(
        select(Issue).where(Issue.status.in_(IssueStatus.WENT_OUT))
        .order_by(Issue.sending_started_at.desc(), Issue.number.desc()).limit(1).options(whole())
    )


def content_for(session: Session, welcome: WelcomeSettings, key: str, now: datetime | None = None) -> Content:
    """What a reader with categories `key` gets; empty `comparisons` if nothing fits."""
    issue = latest_issue(session)
    if issue is not None:
        items = items_for(included_items(issue), key)[:MAX_COMPARISONS]
        if items:
            return Content([(i.comparison, (i.featured_reviewer_a, i.featured_reviewer_b)) for i in items], issue)
    since = (now or utcnow()) - timedelta(days=welcome.catchup_days)
    recent = session.scalars(
        select(Comparison).where(Comparison.published_at >= since)
        .order_by(Comparison.published_at.desc(), Comparison.id.desc())
        .options(selectinload(Comparison.tools).selectinload(Tool.reviews))
    )
    wanted = chosen(key)
    fitting = [c for c in recent if key == ALL or {t.category for t in c.tools} & wanted]
    default = (Reviewer.BUILDER.value, Reviewer.BUILDER.value)
    return Content([(c, default) for c in fitting[:MAX_COMPARISONS]], None, welcome.catchup_days)


def _catchup(content: Content, key: str) -> str:
    where = " in your categories" if key != ALL else ""
    if content.issue is not None:
        return f"To catch up, here is what issue #{content.issue.number} held{where}:"
    days = "day" if content.days == 1 else f"{content.days} days"
    return f"To catch up, here are the panel's verdicts of the last {days}{where}:"


def subject_of(welcome: WelcomeSettings, settings: Settings) -> str:
    return welcome.subject or f"Welcome to {settings.newsletter_name}"


def render_welcome(settings: Settings, welcome: WelcomeSettings, content: Content, key: str,
                   name: str = "") -> RenderedMail:
    """The welcome for one reader, with the personal placeholders the composer fills."""
    comparisons = [comparison_context(c, featured, safe_link(c.url)) for c, featured in content.comparisons]
    context = dict(
        newsletter_name=settings.newsletter_name,
        subject=subject_of(welcome, settings),
        preheader=comparisons[0]["title"] if comparisons else "",
        name=name,
        intro_html=intro_html(welcome.intro, "text"),
        intro_text=welcome.intro.strip(),
        catchup=_catchup(content, key),
        comparisons=comparisons,
        **placeholders(),
        postal_address=settings.postal_address,
    )
    return RenderedMail(
        subject=context["subject"],
        html=render_mjml("welcome.mjml", **context),
        text=render_text("welcome.txt", **context),
    )
