"""Comparisons and issues made directly with the models, for the issue tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from newsletter.models import REVIEWERS, Comparison, Review, Tool

FIXED = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)


def make_comparison(
    session, name_a: str = "Alpha Code", name_b: str = "Beta Pilot", *, published_at: datetime | None = None,
    slug: str | None = None, url: str | None = None, community_b: int | None = 62, standfirst: str | None = None,
    quote_prefix: str = "",
) -> Comparison:
    title = f"{name_a} vs {name_b}"
    slug = slug or title.lower().replace(" ", "-")
    comparison = Comparison(
        slug=slug,
        title=title,
        standfirst=standfirst if standfirst is not None else f"Which one should you ship with, {name_a} or {name_b}?",
        url=url or f"https://verdicts.test/comparisons/{slug}",
        published_at=published_at or FIXED - timedelta(days=1),
    )
    for position, (name, share, vote, price) in enumerate(
        ((name_a, 75, None, "Free"), (name_b, 50, community_b, "Paid"))
    ):
        tool = Tool(
            position=position, category="Code assistant", name=name, tagline=f"{name} writes code with you",
            ship_share=share, community_vote=vote, entry_price=price, description=f"{name} in a paragraph.",
        )
        for rank, reviewer in enumerate(REVIEWERS):
            tool.reviews.append(Review(
                position=rank, reviewer=reviewer,
                quote=f"{quote_prefix}The {reviewer} on {name}: ship it.", verdict="ship",
            ))
        comparison.tools.append(tool)
    session.add(comparison)
    session.flush()
    return comparison


def send_draft(session, settings):
    """Draft, schedule and start an issue from what is published, then mark it sent
    (no delivery runs): an issue as the archive and the click counter see it."""
    from newsletter.issues import drafts, scheduling
    from newsletter.models import IssueStatus

    issue = drafts.refresh_draft(session, FIXED - timedelta(days=1)).issue
    scheduling.schedule(session, issue, FIXED, settings, now=FIXED)
    assert scheduling.start_due(session, settings, now=FIXED) == [issue.id]
    session.refresh(issue)
    issue.status = IssueStatus.SENT
    session.commit()
    return issue


def break_variant(monkeypatch, titles: list[str], message: str) -> None:
    """Make the category variant holding exactly `titles` fail to render (the whole
    issue and every other variant still render), as a template error would."""
    from newsletter.mail.rendering import RenderError
    from newsletter.readers import variants

    real = variants.render_issue

    def render_issue(issue, settings, *, personal=True, items=None):
        if items is not None and [item.comparison.title for item in items] == titles:
            raise RenderError(message)
        return real(issue, settings, personal=personal, items=items)

    monkeypatch.setattr(variants, "render_issue", render_issue)


def no_due_scan_hint(monkeypatch) -> None:
    """"Send now" hands the due-scan a hint; here nothing runs it."""
    from workers import issues as issue_tasks

    monkeypatch.setattr(issue_tasks.start_due_issues, "delay", lambda: None)
