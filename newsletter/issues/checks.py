"""Pre-flight checks shown beside the preview; a failing one blocks scheduling
unless an editor overrides it.

They look at the rendered email, not at the form, because that is what readers
get: a link is judged by the href that ended up in the HTML.
"""
from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from ..mail.rendering import MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, RenderedMail, personalise
from .content import included_items, subject_of

# Gmail clips a message whose HTML is over about 102 KB and hides the rest
# (including the unsubscribe link) behind "View entire message".
GMAIL_CLIP_BYTES = 102 * 1024
# Stand-ins as long as real personal parts, so the size is the size readers get.
SAMPLE_UNSUBSCRIBE = "/unsubscribe/1000000/" + "x" * 43
SAMPLE_MANAGE = "/manage/1000000/" + "x" * 43
SAMPLE_EMAIL = "a.rather.long.address.for.sizing@example.com"


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    ok: bool
    detail: str = ""


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)


def links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def is_absolute_http(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def run_checks(issue, mail: RenderedMail, base_url: str, items=None) -> list[Check]:
    """The checks of one rendering: the whole issue, or a category variant holding
    `items` (judged by its own subject and comparisons)."""
    html = personalise(mail.html, unsubscribe_url=base_url + SAMPLE_UNSUBSCRIBE, manage_url=base_url + SAMPLE_MANAGE,
                       email=SAMPLE_EMAIL, html=True)
    size = len(html.encode("utf-8"))
    items = included_items(issue) if items is None else items
    count, subject = len(items), subject_of(issue, items)
    bad = [link for link in links_in(mail.html)
           if link not in (UNSUBSCRIBE_PLACEHOLDER, MANAGE_PLACEHOLDER) and not is_absolute_http(link)]
    return [
        Check("subject", "Subject", bool(subject.strip()), "" if subject.strip() else "The issue has no subject."),
        Check("comparisons", "Comparisons", count > 0,
              f"{count} comparison{'s' if count != 1 else ''}." if count else "The issue has no comparisons."),
        Check("size", "Size under Gmail's 102 KB clip", size <= GMAIL_CLIP_BYTES,
              f"The HTML is {size / 1024:.1f} KB" + ("." if size <= GMAIL_CLIP_BYTES else
                                                      ": Gmail will clip it; drop a comparison or shorten the intro.")),
        Check("links", "Links are absolute http(s)", not bad,
              "All links are absolute." if not bad else
              "Not an absolute http(s) link: " + ", ".join(dict.fromkeys(bad))),
    ]


def failing(checks: list[Check]) -> list[str]:
    """Each failing check as one sentence, so a list of them reads without doubled stops."""
    return [f"{check.label}: {check.detail.rstrip('.')}." for check in checks if not check.ok]
