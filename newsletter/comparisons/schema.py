"""What a comparison is, whichever way it arrives: the parsed shape and its limits.

Pages and JSON bodies are parsed into these plain dataclasses and held to the
same limits (the database's column sizes, text without control characters,
shares as whole percentages), so both ways in store the same thing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .models import Comparison, Tool

# The schema's column sizes, so a page PostgreSQL would refuse is refused here, by name.
MAX_LENGTHS = {
    "title": Comparison.__table__.c.title.type.length,
    "slug": Comparison.__table__.c.slug.type.length,
    "url": Comparison.__table__.c.url.type.length,
    "category": Tool.__table__.c.category.type.length,
    "name": Tool.__table__.c.name.type.length,
    "tagline": Tool.__table__.c.tagline.type.length,
    "entry_price": Tool.__table__.c.entry_price.type.length,
}
SHARE_RE = re.compile(r"([0-9]{1,3})%")
# Control characters have no place in a line of text, and PostgreSQL rejects NUL outright.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CONTROL_OR_NEWLINE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class ParsedReview:
    reviewer: str
    quote: str
    verdict: str = "unknown"


@dataclass(frozen=True)
class ParsedTool:
    category: str
    name: str
    tagline: str
    ship_share: int
    community_vote: int | None
    entry_price: str
    description: str
    reviews: tuple[ParsedReview, ...] = field(default=())


@dataclass(frozen=True)
class ParsedComparison:
    """One comparison, as a page or a JSON body states it; None means "not given"."""

    title: str
    standfirst: str
    tools: tuple[ParsedTool, ParsedTool]
    slug: str | None = None
    url: str | None = None
    published_at: datetime | None = None


def text_problem(value: str, max_length: int | None = None, multiline: bool = False) -> str | None:
    """Why `value` cannot be stored as this field's text, or None. Shared with the JSON shape."""
    if not value.strip():
        return "is empty"
    bad = (CONTROL_RE if multiline else CONTROL_OR_NEWLINE_RE).search(value)
    if bad:
        return f"contains the control character U+{ord(bad.group()):04X}"
    if max_length is not None and len(value) > max_length:
        return f"is {len(value)} characters long; at most {max_length} fit"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    return None


def parse_share(value: str) -> int | None:
    """`75%` -> 75; None unless a whole percentage from 0 to 100."""
    match = SHARE_RE.fullmatch(value)
    if match is None or int(match.group(1)) > 100:
        return None
    return int(match.group(1))


def title_for(name_a: str, name_b: str) -> str:
    return f"{name_a} vs {name_b}"
