"""Counting clicks on the comparison links of an issue, without tracking people.

A request to a signed link (`issues.links`) is one click, unless it comes from
something that fetches links on its own: a HEAD (the view never calls here for
one), a known prefetcher or link scanner (by User-Agent or a prefetch header), or
a burst that fetches every comparison link of the issue within a second from one
address (what mail security gateways do on delivery). The click's target is the
comparison's URL from the database.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..comparisons.models import Comparison
from ..db import utcnow
from ..issues.content import included_items, load_issue
from ..issues.models import IssueStatus
from ..mail.rendering import safe_link
from .models import Click

BURST = timedelta(seconds=1)
# A source is needed only to see a burst; after this it is forgotten.
FORGET_SOURCE_AFTER = timedelta(minutes=10)
# Mail security gateways, link-preview fetchers and crawlers that open links no reader asked for.
SCANNER_AGENTS = re.compile(
    r"bot\b|bot/|spider|crawl|preview|scanner|barracuda|mimecast|proofpoint|forcepoint|safelinks|"
    r"googleimageproxy|facebookexternalhit|slackbot|twitterbot|linkedinbot|whatsapp|skypeuripreview|"
    r"python-requests|go-http-client|curl/|wget/|headlesschrome|phantomjs|microsoft office|ms-office|"
    r"outlook-ios|bingpreview|symantec|trendmicro|sophos|fortiguard|cisco|ironport",
    re.IGNORECASE,
)
PREFETCH_VALUES = ("prefetch", "preview", "prerender")


@dataclass(frozen=True)
class Request:
    """What the view read off the request: enough to tell a scanner, nothing kept."""

    address: str
    user_agent: str
    purpose: str = ""  # Purpose, Sec-Purpose, X-Purpose or X-Moz headers, joined


def is_scanner(request: Request) -> bool:
    if not request.user_agent.strip():
        return True
    if any(value in request.purpose.lower() for value in PREFETCH_VALUES):
        return True
    return bool(SCANNER_AGENTS.search(request.user_agent))


def _source(secret_key: str, issue_id: int, address: str) -> str:
    key = hmac.new(secret_key.encode(), f"newsletter.click-source:{issue_id}:{address}".encode(), hashlib.sha256)
    return key.hexdigest()[:32]


def target(session: Session, issue_id: int, comparison_id: int) -> tuple[str, bool] | None:
    """Where a link of this issue goes, and whether a click on it counts (only once the
    issue went out: previews and test sends count nothing); None if the issue never
    held that comparison."""
    issue = load_issue(session, issue_id)
    if issue is None:
        return None
    for item in included_items(issue):
        if item.comparison_id == comparison_id:
            url = safe_link(item.comparison.url)
            if url == "about:invalid":
                return None
            return url, issue.status in IssueStatus.DELIVERED
    return None


def record(session: Session, secret_key: str, issue_id: int, comparison_id: int, request: Request,
           now: datetime | None = None) -> str | None:
    """Count one click if it is a reader's; return the redirect target, or None (404)."""
    found = target(session, issue_id, comparison_id)
    if found is None:
        return None
    url, counts = found
    if not counts or is_scanner(request):
        return url
    now = now or utcnow()
    source = _source(secret_key, issue_id, request.address)
    session.add(Click(issue_id=issue_id, comparison_id=comparison_id, clicked_at=now, source=source))
    session.flush()
    _mark_burst(session, issue_id, source, now)
    return url


def _mark_burst(session: Session, issue_id: int, source: str, now: datetime) -> None:
    """Every comparison link of the issue from one address within a second: a scanner."""
    issue = load_issue(session, issue_id)
    links = {item.comparison_id for item in included_items(issue)}
    if len(links) < 2:
        return
    recent = (Click.issue_id == issue_id, Click.source == source, Click.clicked_at >= now - BURST,
              Click.clicked_at <= now)
    hit = set(session.scalars(select(Click.comparison_id).where(*recent)))
    if links <= hit:
        session.execute(update(Click).where(*recent).values(scanner=True))


def forget_sources(session: Session, now: datetime | None = None) -> int:
    """Drop the address hashes once no burst can need them."""
    cutoff = (now or utcnow()) - FORGET_SOURCE_AFTER
    result = session.execute(update(Click).where(Click.source.is_not(None), Click.clicked_at < cutoff)
                             .values(source=None))
    return result.rowcount or 0


def per_comparison(session: Session, issue_id: int) -> dict[int, int]:
    rows = session.execute(select(Click.comparison_id, func.count()).where(
        Click.issue_id == issue_id, Click.scanner.is_(False)).group_by(Click.comparison_id))
    return {comparison_id: count for comparison_id, count in rows}


def per_issue(session: Session, issue_ids: list[int]) -> dict[int, int]:
    if not issue_ids:
        return {}
    rows = session.execute(select(Click.issue_id, func.count()).where(
        Click.issue_id.in_(issue_ids), Click.scanner.is_(False)).group_by(Click.issue_id))
    return {issue_id: count for issue_id, count in rows}


def titles(session: Session, comparison_ids) -> dict[int, str]:
    return dict(session.execute(select(Comparison.id, Comparison.title).where(Comparison.id.in_(list(comparison_ids)))))
