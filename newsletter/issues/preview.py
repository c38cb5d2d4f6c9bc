"""What an editor sees before sending: the rendering and the pre-flight checks.

A template or MJML error is an answer here, not an exception: the preview page
shows it, and scheduling is blocked until it is fixed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Settings
from ..mail.rendering import RenderedMail, RenderError, personalise
from .checks import Check, failing, run_checks
from .models import Issue
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
    try:
        mail = current_mail(issue, settings)
    except RenderError as exc:
        return Preview(mail=None, error=str(exc))
    return Preview(mail=mail, checks=run_checks(issue, mail, settings.base_url))


def as_seen_by(mail: RenderedMail, settings: Settings, email: str) -> RenderedMail:
    """The mail with the personal parts filled in for someone who is not a subscriber."""
    unsubscribe = f"{settings.base_url}/subscribe"
    return RenderedMail(
        subject=mail.subject,
        html=personalise(mail.html, unsubscribe_url=unsubscribe, email=email, html=True),
        text=personalise(mail.text, unsubscribe_url=unsubscribe, email=email, html=False),
    )


