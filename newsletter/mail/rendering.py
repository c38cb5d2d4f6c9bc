"""Email rendering: Jinja fills an MJML template, mjml-python turns it into HTML.

Templates live in `templates/email/`, each mail as a `.mjml` and a `.txt`, and
take plain view-models (dicts of strings and numbers) that the features build, so
nothing here knows what an issue or a subscriber is. MJML templates are
autoescaped, so no content can inject markup; text templates are not (they are
plain text). Any template or MJML failure becomes a `RenderError` with a message a
person can act on.
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

from ..config import PROJECT_ROOT

EMAIL_TEMPLATES = PROJECT_ROOT / "templates" / "email"

# An issue is rendered once with these in place of the personal parts; sending
# substitutes them per recipient (HTML-escaped in the HTML part). Plain ASCII that
# neither MJML nor HTML escaping changes.
UNSUBSCRIBE_PLACEHOLDER = "__UNSUBSCRIBE_URL__"
MANAGE_PLACEHOLDER = "__MANAGE_URL__"
EMAIL_PLACEHOLDER = "__RECIPIENT_EMAIL__"


def placeholders() -> dict[str, str]:
    """The personal parts as a mail's template context holds them, for the composer to fill."""
    return dict(unsubscribe_link=UNSUBSCRIBE_PLACEHOLDER, manage_link=MANAGE_PLACEHOLDER, recipient=EMAIL_PLACEHOLDER)


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
    newsletter_name: str, name: str, confirm_link: str, unsubscribe_link: str, max_age_hours: int,
    manage_link: str,
) -> RenderedMail:
    context = dict(
        newsletter_name=newsletter_name,
        name=name,
        confirm_link=confirm_link,
        unsubscribe_link=unsubscribe_link,
        manage_link=manage_link,
        max_age_hours=max_age_hours,
    )
    return RenderedMail(
        subject=f"Confirm your subscription to {newsletter_name}",
        html=render_mjml("confirm.mjml", **context),
        text=render_text("confirm.txt", **context),
    )


# --- Pieces of an issue's view-model --------------------------------------------

INTRO_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "code", "blockquote", "h3", "h4"}


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


def personalise(text: str, *, unsubscribe_url: str, manage_url: str, email: str, html: bool) -> str:
    """Fill in the placeholders (HTML-escaped in the HTML part)."""
    if html:
        unsubscribe_url, manage_url, email = (html_lib.escape(v) for v in (unsubscribe_url, manage_url, email))
    return (text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url).replace(MANAGE_PLACEHOLDER, manage_url)
            .replace(EMAIL_PLACEHOLDER, email))
