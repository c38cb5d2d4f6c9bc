"""The audience as editors see it: counts, new confirmations per week, and the list.

The list is paged by keyset (`id < the last one shown`), newest first, so page
5,000 costs what page 1 does; `ix_subscribers_status_id` serves the status
filter and, on PostgreSQL, `ix_subscribers_email_key_prefix` the prefix search.
Counts and filters iterate over `SubscriberStatus`, so a new state shows up here
by itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Subscriber, SubscriberStatus

PAGE_SIZE = 50
MAX_QUERY_LENGTH = 254


class BadListQuery(ValueError):
    """A filter the list cannot apply; the message says which."""


@dataclass(frozen=True)
class Page:
    rows: list[Subscriber]
    next_before: int | None  # the id to ask for the next page with, None on the last page


def counts(session: Session) -> dict[str, int]:
    """Subscribers per state, every state present (0 where none)."""
    found = dict(session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status)).all())
    return {status.value: found.get(status.value, 0) for status in SubscriberStatus}


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week `moment` falls in."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def confirmed_per_week(session: Session, weeks: int = 12, now: datetime | None = None) -> list[tuple[datetime, int]]:
    """(Monday, people whose confirmation falls in that week) for the last `weeks`
    weeks, oldest first, this week included; counted in Python from one indexed
    range scan, so it reads the same on every database."""
    first = week_start(now or utcnow()) - timedelta(weeks=weeks - 1)
    starts = [first + timedelta(weeks=i) for i in range(weeks)]
    tally = dict.fromkeys(starts, 0)
    for (confirmed_at,) in session.execute(select(Subscriber.confirmed_at).where(Subscriber.confirmed_at >= first)):
        start = week_start(confirmed_at)
        if start in tally:
            tally[start] += 1
    return [(start, tally[start]) for start in starts]


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def parse_status(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in {status.value for status in SubscriberStatus}:
        raise BadListQuery(f"there is no status {raw!r}")
    return raw


def page(session: Session, *, query: str = "", status: str | None = None, before: int | None = None,
         size: int = PAGE_SIZE) -> Page:
    """One page of subscribers, newest first: those whose address starts with
    `query` (any case), in `status` if given, with ids below `before`."""
    query = query.strip().lower()
    if len(query) > MAX_QUERY_LENGTH:
        raise BadListQuery(f"a search is at most {MAX_QUERY_LENGTH} characters")
    stmt = select(Subscriber)
    if query:
        stmt = stmt.where(Subscriber.email_key.like(_like_prefix(query), escape="\\"))
    if status is not None:
        stmt = stmt.where(Subscriber.status == parse_status(status))
    if before is not None:
        stmt = stmt.where(Subscriber.id < before)
    rows = list(session.scalars(stmt.order_by(Subscriber.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_before=rows[-1].id if more else None)
