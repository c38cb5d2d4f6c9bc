"""What an editor sees before sending: the rendering, the checks, a test send.

A template or MJML error is an answer here, not an exception: the preview page
shows it, and scheduling is blocked until it is fixed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from . import mailer
from .checks import Check, failing, run_checks
from .config import Settings
from .digest import UPCOMING, included_items
from .models import Issue
from .rendering import RenderError, RenderedMail, personalise, render_issue

MAX_TEST_RECIPIENTS = 5


class BadTestAddresses(ValueError):
    """The addresses typed for a test send are not usable; the message says why."""


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


def frozen_mail(issue: Issue) -> RenderedMail | None:
    """Once sending started, the content readers get is the frozen one."""
    if issue.status in UPCOMING or not issue.html:
        return None
    return RenderedMail(subject=issue.rendered_subject, html=issue.html, text=issue.text)


def current_mail(issue: Issue, settings: Settings) -> RenderedMail:
    return frozen_mail(issue) or render_issue(issue, settings)


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


def parse_test_addresses(raw: str) -> list[str]:
    parts = [p.strip() for p in raw.replace(";", ",").replace("\n", ",").split(",") if p.strip()]
    if not parts:
        raise BadTestAddresses("type at least one address")
    if len(parts) > MAX_TEST_RECIPIENTS:
        raise BadTestAddresses(f"at most {MAX_TEST_RECIPIENTS} addresses per test send")
    addresses = []
    for part in parts:
        try:
            addresses.append(validate_email(part, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise BadTestAddresses(f"{part!r} is not a valid address: {exc}") from None
    return list(dict.fromkeys(addresses))


def send_test(issue: Issue, settings: Settings, addresses: list[str]) -> list[str]:
    """Send the real rendering to each address over the real SMTP path, marked
    as a test. It reads no subscriber and writes no delivery row."""
    mail = current_mail(issue, settings)
    for address in addresses:
        personal = as_seen_by(mail, settings, address)
        message = mailer.build_message(
            settings, to_email=address, subject=f"[TEST] {mail.subject}", html=personal.html, text=personal.text,
        )
        mailer.send(settings, message)
    return addresses


def freezer(settings: Settings):
    """The content the due-scan freezes into the issue as it starts sending."""

    def freeze(issue: Issue) -> dict[str, str] | None:
        if not included_items(issue):
            return None
        mail = render_issue(issue, settings)
        web = render_issue(issue, settings, personal=False)
        return dict(rendered_subject=mail.subject, html=mail.html, text=mail.text, web_html=web.html)

    return freeze
