"""The issue as a view-model for `templates/email/issue.*`, and its rendering.

The view-model is plain data (strings and numbers), so the mail package renders it
without knowing what an issue is, and delivery later fills in only the personal
parts the placeholders mark.
"""
from __future__ import annotations

from ..config import Settings
from ..mail.rendering import RenderedMail, intro_html, placeholders, render_mjml, render_text, safe_link
from .content import included_items, preheader_of, subject_of
from .links import tracked_url
from .models import Issue, IssueStatus

REVIEWER_ROLES = {"builder": "The builder", "skeptic": "The skeptic", "futurist": "The futurist", "buyer": "The buyer"}


def comparison_context(comparison, featured: tuple[str, str], url: str) -> dict:
    """One comparison as `_comparisons.*` shows it, quoting the `featured` reviewer of
    each tool (the first review if that one is missing)."""
    tools = []
    for tool, reviewer in zip(comparison.tools, featured):
        review = next((r for r in tool.reviews if r.reviewer == reviewer), None)
        review = review or (tool.reviews[0] if tool.reviews else None)
        tools.append(dict(
            name=tool.name, tagline=tool.tagline, category=tool.category, ship_share=tool.ship_share,
            community_vote=tool.community_vote, entry_price=tool.entry_price,
            quote=review.quote if review else "",
            role=REVIEWER_ROLES.get(review.reviewer, review.reviewer) if review else "",
        ))
    return dict(title=comparison.title, standfirst=comparison.standfirst, url=url, tools=tools)


def issue_context(issue: Issue, settings: Settings, *, personal: bool = True, items=None) -> dict:
    """What issue.mjml and issue.txt need, from an issue loaded with its comparisons;
    `items` narrows it to some of them (a category variant)."""
    items = included_items(issue) if items is None else items
    comparisons = []
    for item in items:
        comparison = item.comparison
        url = safe_link(comparison.url)
        if personal and url != "about:invalid" and issue.id is not None:
            # In the mail, through the click counter; the web version and feed link directly.
            url = tracked_url(settings.base_url, settings.secret_key, issue.id, comparison.id)
        comparisons.append(comparison_context(comparison, (item.featured_reviewer_a, item.featured_reviewer_b), url))
    return dict(
        newsletter_name=settings.newsletter_name,
        number=issue.number,
        date=issue.scheduled_at.strftime("%-d %B %Y") if issue.scheduled_at else "",
        subject=subject_of(issue, items),
        preheader=preheader_of(issue, items),
        intro_html=intro_html(issue.intro, issue.intro_format),
        intro_text=issue.intro.strip(),
        comparisons=comparisons,
        personal=personal,
        **placeholders(),
        subscribe_link=f"{settings.base_url}/subscribe",
        archive_link=f"{settings.base_url}/archive/{issue.number}",
        postal_address=settings.postal_address,
    )


def render_issue(issue: Issue, settings: Settings, *, personal: bool = True, items=None) -> RenderedMail:
    """Render the issue once; `personal` keeps the placeholders for delivery to
    fill in, otherwise it is the archive's web version with no personal parts."""
    context = issue_context(issue, settings, personal=personal, items=items)
    return RenderedMail(
        subject=context["subject"],
        html=render_mjml("issue.mjml", **context),
        text=render_text("issue.txt", **context),
    )


def frozen_content(issue: Issue, settings: Settings) -> dict[str, str] | None:
    """What the due-scan writes into the issue as it starts sending (None: nothing
    to send); a `RenderError` leaves the issue as it was."""
    if not included_items(issue):
        return None
    mail = render_issue(issue, settings)
    web = render_issue(issue, settings, personal=False)
    return dict(rendered_subject=mail.subject, html=mail.html, text=mail.text, web_html=web.html)


def frozen_mail(issue: Issue) -> RenderedMail | None:
    """Once sending started, the content readers get is the frozen one."""
    if issue.status in IssueStatus.UPCOMING or not issue.html:
        return None
    return RenderedMail(subject=issue.rendered_subject, html=issue.html, text=issue.text)


def current_mail(issue: Issue, settings: Settings) -> RenderedMail:
    return frozen_mail(issue) or render_issue(issue, settings)
