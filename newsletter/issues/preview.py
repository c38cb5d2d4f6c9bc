"""What an editor sees before sending: the rendering and the pre-flight checks.

A template or MJML error is an answer here, not an exception: the preview page
shows it, and scheduling is blocked until it is fixed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Settings
from ..mail.rendering import RenderedMail, RenderError, personalise
from .checks import Check, failing, run_checks
from .models import Issue, IssueStatus
from .rendering import current_mail


@dataclass
class Preview:
    mail: RenderedMail | None
    checks: list[Check] = field(default_factory=list)
    error: str = ""

    @property
    def failing(self) -> list[str]:
        if self.error:
            return [f"The email cannot be rendered: {self.error}"]
        return failing(self.checks)


def build_preview(issue: Issue, settings: Settings) -> Preview:
    return preview_of(issue, settings, lambda: current_mail(issue, settings))


def preview_of(issue: Issue, settings: Settings, render: Callable[[], RenderedMail], items=None) -> Preview:
    """A rendering and its checks: `render` is the path the send takes (the whole
    issue, or a category variant holding `items`), so the preview is what readers get."""
    try:
        mail = render()
    except RenderError as exc:
        return Preview(mail=None, error=str(exc))
    return Preview(mail=mail, checks=run_checks(issue, mail, settings.base_url, items))


def inactive_link(settings: Settings, which: str) -> str:
    """Where a personal link points in a preview or a test send: a page that says
    what the link does in the issue readers get, instead of a 404 or a wrong page."""
    return f"{settings.base_url}/preview-link/{which}"


def as_seen_by(mail: RenderedMail, settings: Settings, email: str, issue: Issue | None = None) -> RenderedMail:
    """The mail with the personal parts filled in for someone who is not a subscriber.

    Their unsubscribe and manage links, and the web version of an issue not published yet, point
    to `inactive_link` pages.
    """
    links = dict(unsubscribe_url=inactive_link(settings, "unsubscribe"), manage_url=inactive_link(settings, "manage"))
    html = personalise(mail.html, email=email, html=True, **links)
    text = personalise(mail.text, email=email, html=False, **links)
    if issue is not None and issue.status not in IssueStatus.PUBLIC:
        # The archive link is rendered into the template; it works only once the issue is sent.
        archive, placeholder = f"{settings.base_url}/archive/{issue.number}", inactive_link(settings, "web-version")
        html, text = html.replace(f'"{archive}"', f'"{placeholder}"'), text.replace(archive, placeholder)
    return RenderedMail(subject=mail.subject, html=html, text=text)


