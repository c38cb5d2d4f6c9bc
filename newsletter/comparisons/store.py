"""Stored comparisons: create or update one by slug, and read them back.

A comparison arrives again and again (every export, every push), so `upsert`
compares a digest of the content it would store with the stored one and changes
nothing, not even `updated_at`, when they match; the digest is what makes
"unchanged" cheap and "last changed" honest. The comparison row is claimed with
`INSERT … ON CONFLICT (slug) DO NOTHING`, so two imports of the same new slug
at once make one row and an update, never a duplicate or an IntegrityError.
Tools and reviews are updated in place by position, keeping their ids.

Like every service here it takes a session and never commits.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..config import Settings
from ..db import insert_for, utcnow
from .json_format import SLUG_RE, InvalidComparison
from .models import REVIEWERS, Comparison, Review, Tool
from .schema import MAX_LENGTHS, ParsedComparison, ParsedTool

TOOL_FIELDS = ("category", "name", "tagline", "ship_share", "community_vote", "entry_price", "description")
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
PARENTHESES_RE = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class UpsertResult:
    status: str  # created, updated or unchanged
    comparison: Comparison


def slugify(title: str) -> str:
    """`Code Llama 4 (70B & 400B) vs Mistral-Next 22B` -> `code-llama-4-vs-mistral-next-22b`.

    Parenthesised asides are left out, as the comparison site's own slugs do, so
    the URL built from the slug is the page's real address. Letters with no Latin
    form (通义) would vanish, and a title too long for a slug is cut; either could
    make different titles collide, so those slugs end with a digest of the title.
    """
    title = PARENTHESES_RE.sub(" ", title).strip() or title
    words = "".join(_fold(c) for c in title).lower().split()
    lost = any(c.isalnum() and not _fold(c) for c in title)
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:12]
    room = MAX_LENGTHS["slug"] - len(digest) - 1
    slug = "-".join(words)
    cut = len(slug) > room
    if cut:
        slug = slug[:room].rsplit("-", 1)[0] if "-" in slug[:room] else slug[:room]
    if lost or cut or not slug:
        slug = f"{slug}-{digest}" if slug else digest
    assert SLUG_RE.fullmatch(slug), slug
    return slug


def _fold(char: str) -> str:
    """The ASCII letters and digits a letter or digit decomposes to ("é" -> "e"); a space for the rest."""
    if not char.isalnum():
        return " "
    ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in ascii_form if c.isalnum())


def site_url(settings: Settings, slug: str) -> str:
    base = settings.comparison_site_url
    return base + slug if base.endswith("/") else f"{base}/{slug}"


def upsert(
    session: Session, parsed: ParsedComparison, settings: Settings, *, published_at: datetime | None = None
) -> UpsertResult:
    """Create or update the comparison with this slug.

    An explicit slug names the comparison, whatever is stored under it. A slug
    derived from the title only names the comparison of that title: two titles
    that differ in a parenthesised aside ("(8B)", "(70B)") or an accent derive
    the same slug, and the second then gets the slug with its title's digest
    appended, instead of replacing the first. Re-imports land on the same slug.

    `published_at` is the publication time for a new comparison when `parsed`
    does not state one (a page never does); it defaults to now. An existing
    comparison keeps its publication time unless `parsed` states another.
    """
    if parsed.slug:
        candidates = [parsed.slug]
    else:
        derived = slugify(parsed.title)
        candidates = [derived, distinct_slug(derived, parsed.title)]
    for slug in candidates:
        comparison = _find(session, slug)
        if comparison is None:
            url = parsed.url or site_url(settings, slug)
            published = parsed.published_at or published_at or utcnow()
            claimed = _claim(session, slug, parsed, url, published)
            if claimed is not None:
                comparison = session.get(Comparison, claimed)
                _write(comparison, parsed, url, published)
                session.flush()
                return UpsertResult(CREATED, comparison)
            comparison = _find(session, slug)  # another import created it a moment ago
            assert comparison is not None
        if parsed.slug or same_title(comparison.title, parsed.title):
            return _update(session, comparison, parsed, parsed.url or site_url(settings, slug))
    raise InvalidComparison({"title": f"the slugs {' and '.join(candidates)} both belong to other comparisons; "
                                      "give this one a slug of its own"})


def same_title(stored: str, given: str) -> bool:
    """One comparison's title, retyped: case, accents, spacing and punctuation may
    differ ("GPT-5" and "GPT 5"), but every word counts, asides included."""
    return _words(stored) == _words(given)


def _words(title: str) -> str:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


def distinct_slug(slug: str, title: str) -> str:
    """`slug` made the title's own by its digest, still within the slug's length."""
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:12]
    if slug.endswith(digest):
        digest = hashlib.sha256(digest.encode("ascii")).hexdigest()[:12]  # slugify appended it already
    room = MAX_LENGTHS["slug"] - len(digest) - 1
    return f"{slug[:room].rstrip('-')}-{digest}"


def _update(session: Session, comparison: Comparison, parsed: ParsedComparison, url: str) -> UpsertResult:
    published = parsed.published_at or comparison.published_at
    digest = content_hash(parsed, url, published)
    if digest == comparison.content_hash:
        return UpsertResult(UNCHANGED, comparison)
    _write(comparison, parsed, url, published)
    comparison.updated_at = utcnow()
    session.flush()
    return UpsertResult(UPDATED, comparison)


def content_hash(parsed: ParsedComparison, url: str, published_at: datetime) -> str:
    """A digest of everything stored about a comparison except its own bookkeeping."""
    content = {
        "title": parsed.title,
        "standfirst": parsed.standfirst,
        "url": url,
        "published_at": _iso(published_at),
        "tools": [_tool_json(tool) for tool in parsed.tools],
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _find(session: Session, slug: str) -> Comparison | None:
    return session.scalar(select(Comparison).where(Comparison.slug == slug).with_for_update())


def _claim(session: Session, slug: str, parsed: ParsedComparison, url: str, published: datetime) -> int | None:
    """Insert the bare comparison row unless the slug exists; its id, or None if it did."""
    now = utcnow()
    statement = (
        insert_for(session)(Comparison)
        .values(slug=slug, title=parsed.title, standfirst=parsed.standfirst, url=url, published_at=published,
                updated_at=now, created_at=now, content_hash="")
        .on_conflict_do_nothing(index_elements=["slug"])
        .returning(Comparison.id)
    )
    return session.execute(statement).scalar()


def _write(comparison: Comparison, parsed: ParsedComparison, url: str, published: datetime) -> None:
    comparison.title = parsed.title
    comparison.standfirst = parsed.standfirst
    comparison.url = url
    comparison.published_at = published
    comparison.content_hash = content_hash(parsed, url, published)
    tools = {tool.position: tool for tool in comparison.tools}
    for position, given in enumerate(parsed.tools):
        tool = tools.get(position)
        if tool is None:
            tool = Tool(position=position)
            comparison.tools.append(tool)
        for name in TOOL_FIELDS:
            setattr(tool, name, getattr(given, name))
        reviews = {review.reviewer: review for review in tool.reviews}
        for review_given in given.reviews:
            review = reviews.get(review_given.reviewer)
            if review is None:
                review = Review(reviewer=review_given.reviewer, position=REVIEWERS.index(review_given.reviewer))
                tool.reviews.append(review)
            review.quote = review_given.quote
            review.verdict = review_given.verdict


def get(session: Session, slug: str) -> Comparison | None:
    return session.scalar(_with_content(select(Comparison).where(Comparison.slug == slug)))


def newest(session: Session, page: int, per_page: int) -> tuple[list[Comparison], int]:
    """One page of comparisons, newest published first, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(Comparison)) or 0
    query = (
        _with_content(select(Comparison))
        .order_by(Comparison.published_at.desc(), Comparison.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(session.scalars(query)), total


def _with_content(query):
    return query.options(selectinload(Comparison.tools).selectinload(Tool.reviews))


def to_json(comparison: Comparison) -> dict:
    """The JSON shape (see `comparison_json`), plus the stored bookkeeping times."""
    return {
        "slug": comparison.slug,
        "title": comparison.title,
        "standfirst": comparison.standfirst,
        "url": comparison.url,
        "published_at": _iso(comparison.published_at),
        "created_at": _iso(comparison.created_at),
        "updated_at": _iso(comparison.updated_at),
        "tools": [_tool_json(tool) for tool in comparison.tools],
    }


def _tool_json(tool: Tool | ParsedTool) -> dict:
    """A tool and its reviews as JSON; parsed and stored tools have the same attribute names."""
    return {
        **{name: getattr(tool, name) for name in TOOL_FIELDS},
        "reviews": [{"reviewer": r.reviewer, "quote": r.quote, "verdict": r.verdict} for r in tool.reviews],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
