"""Email rendering: Jinja fills an MJML template, mjml-python turns it into HTML.

Templates live in `templates/email/`, each mail as a `.mjml` and a `.txt`. MJML
templates are autoescaped, so no content can inject markup; text templates are not
(they are plain text). Any template or MJML failure becomes a `RenderError` with a
message a person can act on.
"""
from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import jinja2
import nh3
from markdown_it import MarkdownIt
from mjml import mjml2html

from .config import PROJECT_ROOT

EMAIL_TEMPLATES = PROJECT_ROOT / "templates" / "email"

# An issue is rendered once with these in place of the personal parts; sending
# substitutes them per recipient (HTML-escaped in the HTML part). Plain ASCII that
# neither MJML nor HTML escaping changes.
UNSUBSCRIBE_PLACEHOLDER = "__UNSUBSCRIBE_URL__"
EMAIL_PLACEHOLDER = "__RECIPIENT_EMAIL__"


class RenderError(Exception):
    """A template or MJML error, with the template's name in the message."""


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


@lru_cache(maxsize=2)
def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(EMAIL_TEMPLATES)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_mjml(template: str, **context) -> str:
    """Render `templates/email/<template>` to MJML, then to HTML."""
    try:
        source = _environment(True).get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"{template}: {exc.__class__.__name__}: {exc}") from exc
    try:
        return mjml2html(source)
    except Exception as exc:  # mjml-python raises plain exceptions from Rust
        raise RenderError(f"{template}: MJML could not be rendered: {exc}") from exc


def render_text(template: str, **context) -> str:
    try:
        return _environment(False).get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"{template}: {exc.__class__.__name__}: {exc}") from exc


def render_confirmation(
    newsletter_name: str, name: str, confirm_link: str, unsubscribe_link: str, max_age_hours: int
) -> RenderedMail:
    context = dict(
        newsletter_name=newsletter_name,
        name=name,
        confirm_link=confirm_link,
        unsubscribe_link=unsubscribe_link,
        max_age_hours=max_age_hours,
    )
    return RenderedMail(
        subject=f"Confirm your subscription to {newsletter_name}",
        html=render_mjml("confirm.mjml", **context),
        text=render_text("confirm.txt", **context),
    )


# --- The weekly issue -------------------------------------------------------------

INTRO_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "code", "blockquote", "h3", "h4"}
REVIEWER_ROLES = {"builder": "The builder", "skeptic": "The skeptic", "futurist": "The futurist", "buyer": "The buyer"}


def intro_html(intro: str, intro_format: str) -> str:
    """The editor's intro as safe HTML: Markdown with raw HTML off, then nh3.

    markdown-it already refuses raw HTML and `javascript:` links; nh3 is the
    second fence, keeping only a few formatting tags and http(s)/mailto links.
    """
    if not intro.strip():
        return ""
    if intro_format == "markdown":
        raw = MarkdownIt("commonmark", {"html": False}).render(intro)
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", intro) if p.strip()]
        raw = "".join("<p>" + html_lib.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
    return nh3.clean(raw, tags=INTRO_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto"})


def safe_link(url: str) -> str:
    """Only absolute http(s) links reach an email; anything else becomes a link
    that goes nowhere and that the pre-flight checks report."""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else "about:invalid"


def issue_context(issue, settings, *, personal: bool = True) -> dict:
    """What issue.mjml and issue.txt need, from an issue loaded with its comparisons."""
    from .digest import included_items, preheader_of, subject_of

    comparisons = []
    for item in included_items(issue):
        comparison = item.comparison
        tools = []
        for tool, featured in zip(comparison.tools, (item.featured_reviewer_a, item.featured_reviewer_b)):
            review = next((r for r in tool.reviews if r.reviewer == featured), None)
            review = review or (tool.reviews[0] if tool.reviews else None)
            tools.append(dict(
                name=tool.name, tagline=tool.tagline, category=tool.category, ship_share=tool.ship_share,
                community_vote=tool.community_vote, entry_price=tool.entry_price,
                quote=review.quote if review else "",
                role=REVIEWER_ROLES.get(review.reviewer, review.reviewer) if review else "",
            ))
        comparisons.append(dict(
            title=comparison.title, standfirst=comparison.standfirst, url=safe_link(comparison.url), tools=tools
        ))
    return dict(
        newsletter_name=settings.newsletter_name,
        number=issue.number,
        date=issue.scheduled_at.strftime("%-d %B %Y") if issue.scheduled_at else "",
        subject=subject_of(issue),
        preheader=preheader_of(issue),
        intro_html=intro_html(issue.intro, issue.intro_format),
        intro_text=issue.intro.strip(),
        comparisons=comparisons,
        personal=personal,
        unsubscribe_link=UNSUBSCRIBE_PLACEHOLDER,
        recipient=EMAIL_PLACEHOLDER,
        subscribe_link=f"{settings.base_url}/subscribe",
        archive_link=f"{settings.base_url}/archive/{issue.number}",
        postal_address=settings.postal_address,
    )


def render_issue(issue, settings, *, personal: bool = True) -> RenderedMail:
    """Render the issue once; `personal` keeps the placeholders for delivery to
    fill in, otherwise it is the archive's web version with no personal parts."""
    context = issue_context(issue, settings, personal=personal)
    return RenderedMail(
        subject=context["subject"],
        html=render_mjml("issue.mjml", **context),
        text=render_text("issue.txt", **context),
    )


def personalise(text: str, *, unsubscribe_url: str, email: str, html: bool) -> str:
    """Fill in the placeholders (HTML-escaped in the HTML part)."""
    if html:
        unsubscribe_url, email = html_lib.escape(unsubscribe_url), html_lib.escape(email)
    return text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url).replace(EMAIL_PLACEHOLDER, email)
