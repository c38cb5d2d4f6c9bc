"""The welcome email: golden files, and outside text (names, intro, comparisons) escaped.

Regenerate the golden files after an intended template change with
`UPDATE_GOLDEN=1 pytest tests/readers/test_welcome_mail.py`, and review the diff.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from support import golden
from support.issues import FIXED, make_comparison

from newsletter.mail.rendering import EMAIL_PLACEHOLDER, MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER
from newsletter.models import WelcomeSettings
from newsletter.readers.welcome_mail import Content, render_welcome

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, actual: str) -> None:
    golden.check_golden(GOLDEN, name, actual)


def settings_row(**values) -> WelcomeSettings:
    return WelcomeSettings(**{"id": 1, "enabled": True, "subject": "", "intro": "", "catchup_days": 14,
                              "counts_as_sent": False} | values)


def test_golden_html_and_text(session, settings):
    first = make_comparison(session, "Code Llama 4", "Mistral Code", published_at=FIXED - timedelta(days=2),
                            slug="code-llama-4-vs-mistral-code")
    second = make_comparison(session, "Cursor Agent", "Windsurf", published_at=FIXED - timedelta(days=1),
                             slug="cursor-agent-vs-windsurf", community_b=None)
    content = Content([(second, ("builder", "builder")), (first, ("skeptic", "futurist"))], None, 14)
    mail = render_welcome(settings, settings_row(intro="Glad you are here.\n\nTwo verdicts to start."),
                          content, "Code assistant", "Ada")
    assert mail.subject == "Welcome to Weekly AI Tool Verdicts"
    for placeholder in (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER, EMAIL_PLACEHOLDER):
        assert placeholder in mail.html and placeholder in mail.text
    check_golden("welcome.html", mail.html)
    check_golden("welcome.txt", mail.text)


def test_outside_text_is_escaped(session, settings):
    hostile = make_comparison(session, "<b>Bold</b>", "Plain", url="javascript:alert(1)",
                              standfirst="<script>alert(1)</script>")
    content = Content([(hostile, ("builder", "builder"))], None, 3)
    mail = render_welcome(settings, settings_row(intro="<img src=x onerror=alert(1)>", subject="Hi <you>"),
                          content, "", "<i>Eve</i>")
    assert mail.subject == "Hi <you>"
    for raw in ("<script>", "<b>Bold", "<img", "<i>Eve", "javascript:"):
        assert raw not in mail.html
    assert "&lt;script&gt;" in mail.html and "&lt;i&gt;Eve&lt;/i&gt;" in mail.html
    assert "about:invalid" in mail.html
    assert "verdicts of the last 3 days:" in mail.text
