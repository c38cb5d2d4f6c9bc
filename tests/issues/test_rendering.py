"""The issue email: golden files, escaping of hostile content, placeholders.

Regenerate the golden files after an intended template change with
`UPDATE_GOLDEN=1 pytest tests/issues/test_rendering.py`, and review the diff.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from support import golden
from support.issues import FIXED, make_comparison

from newsletter.issues import drafts
from newsletter.issues.rendering import render_issue
from newsletter.mail.rendering import (
    EMAIL_PLACEHOLDER,
    MANAGE_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    intro_html,
    personalise,
)

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def fixed_issue(session):
    make_comparison(session, "Code Llama 4", "Mistral Code", published_at=FIXED - timedelta(days=2),
                    slug="code-llama-4-vs-mistral-code")
    second = make_comparison(session, "Cursor Agent", "Windsurf", published_at=FIXED - timedelta(days=1),
                             slug="cursor-agent-vs-windsurf", community_b=None)
    issue = drafts.refresh_draft(session, FIXED - timedelta(days=3)).issue
    issue.number = 7
    issue.scheduled_at = FIXED
    drafts.update_content(issue, subject="", preheader="Two verdicts this week",
                          intro="Hello readers,\n\nThis week **two** verdicts.", intro_format="markdown")
    drafts.arrange(issue, [c.comparison_id for c in issue.items], {second.id: ("skeptic", "futurist")})
    session.flush()
    return issue


def check_golden(name: str, actual: str) -> None:
    golden.check_golden(GOLDEN, name, actual)


def test_golden_html_and_text(fixed_issue, settings):
    mail = render_issue(fixed_issue, settings)
    assert mail.subject == "Cursor Agent vs Windsurf + 1 more verdict"
    check_golden("issue.html", mail.html)
    check_golden("issue.txt", mail.text)


def test_issue_shows_each_comparison_fully(fixed_issue, settings):
    mail = render_issue(fixed_issue, settings)
    for part in (mail.html, mail.text):
        assert "Issue #7" in part and settings.newsletter_name in part
        assert "Code Llama 4 vs Mistral Code" in part and "Cursor Agent vs Windsurf" in part
        assert "Panel ship" in part and "Entry" in part and "Paid" in part
        assert "The skeptic on Cursor Agent: ship it." in part and "The futurist on Windsurf" in part
        assert "The builder on Code Llama 4" in part
        # Comparison links go through the click counter (`/r/<issue>/<comparison>-<mac>`).
        assert f"{settings.base_url}/r/{fixed_issue.id}/" in part
        assert "https://verdicts.test/comparisons/cursor-agent-vs-windsurf" not in part
        assert UNSUBSCRIBE_PLACEHOLDER in part and EMAIL_PLACEHOLDER in part and MANAGE_PLACEHOLDER in part
        assert "Manage your subscription" in part
        assert settings.postal_address in part
    assert "Read the full comparison" in mail.html
    assert "<strong>two</strong>" in mail.html
    # Community vote only where there is one: Mistral Code has 62%, Windsurf none.
    assert mail.text.count("Community:") == 1


def test_web_version_has_no_personal_parts(fixed_issue, settings):
    web = render_issue(fixed_issue, settings, personal=False)
    for part in (web.html, web.text):
        assert UNSUBSCRIBE_PLACEHOLDER not in part and EMAIL_PLACEHOLDER not in part and MANAGE_PLACEHOLDER not in part
        assert "/subscribe" in part


HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


def test_hostile_comparison_text_is_escaped(session, settings):
    make_comparison(session, HOSTILE, "B<b>old</b>", standfirst=HOSTILE, quote_prefix=HOSTILE,
                    slug="hostile", url="javascript:alert(3)")
    issue = drafts.refresh_draft(session, FIXED).issue
    drafts.update_content(issue, subject=HOSTILE, preheader=HOSTILE,
                          intro='<script>alert(4)</script> [x](javascript:alert(5)) <a href="http://e">raw</a>',
                          intro_format="markdown")
    mail = render_issue(issue, settings)
    html = mail.html
    assert "<script>" not in html and "<img src=x" not in html and "<b>old</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html and "href='javascript" not in html
    assert '<a href="http://e"' not in html  # raw HTML in Markdown stays text
    assert "about:invalid" in html  # the bad comparison URL goes nowhere (and the checks flag it)
    assert HOSTILE in mail.text  # plain text is plain


def test_plain_text_intro_keeps_paragraphs_and_escapes():
    assert intro_html("One <b>\n\nTwo\nthree", "text") == "<p>One &lt;b&gt;</p><p>Two<br>three</p>"
    assert intro_html("", "markdown") == ""


def test_personalise_escapes_in_html_only():
    body = f"<a href=\"{UNSUBSCRIBE_PLACEHOLDER}\">x</a> {EMAIL_PLACEHOLDER}"
    body += f' <a href="{MANAGE_PLACEHOLDER}">m</a>'
    assert personalise(body, unsubscribe_url="https://u/?a=1&b=2", manage_url="https://m/?c=3&d=4", email="a&b@x",
                       html=True) == (
        '<a href="https://u/?a=1&amp;b=2">x</a> a&amp;b@x <a href="https://m/?c=3&amp;d=4">m</a>'
    )
    assert personalise(f"{EMAIL_PLACEHOLDER} {MANAGE_PLACEHOLDER}", unsubscribe_url="", manage_url="https://m/?c&d",
                       email="a&b@x", html=False) == "a&b@x https://m/?c&d"
