"""The weekly slot: when the next issue is planned, in the editors' time zone.

Editors think in the schedule's time zone; the database holds UTC. A time the
clocks skip is refused rather than guessed.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Issue, IssueStatus, SendSchedule

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SchedulingError(ValueError):
    """The editor's request cannot be done; the message says why."""


def get_schedule(session: Session) -> SendSchedule:
    schedule = session.get(SendSchedule, 1)
    if schedule is None:
        schedule = SendSchedule(id=1)
        session.add(schedule)
        session.flush()
    return schedule


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SchedulingError(f"unknown time zone {name!r} (use a name like Europe/Berlin)") from None


def local_to_utc(day: date, at: time, tz_name: str) -> datetime:
    """A wall-clock time in `tz_name` as UTC.

    A time the clocks skip (spring forward) is refused rather than guessed; a time
    that happens twice (fall back) means the first of the two.
    """
    tz = zone(tz_name)
    local = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    utc = local.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise SchedulingError(
            f"{day.isoformat()} {at.strftime('%H:%M')} does not exist in {tz_name} "
            "(the clocks go forward then); pick another time"
        )
    return utc


def to_local(moment: datetime | None, tz_name: str) -> datetime | None:
    return moment.astimezone(zone(tz_name)) if moment else None


def next_slot(schedule: SendSchedule, now: datetime) -> datetime:
    """The next weekly slot strictly after `now`, in UTC."""
    tz = zone(schedule.timezone)
    today = now.astimezone(tz).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() != schedule.weekday:
            continue
        slot = datetime.combine(day, schedule.send_time).replace(tzinfo=tz).astimezone(timezone.utc)
        if slot > now:
            return slot
    raise AssertionError("a weekday recurs within 8 days")


def update_schedule(session: Session, weekday: int, send_time: time, tz_name: str, now: datetime | None = None) -> None:
    """Change the weekly slot; a draft's planned slot moves with it."""
    zone(tz_name)
    if not 0 <= weekday <= 6:
        raise SchedulingError("pick a weekday")
    schedule = get_schedule(session)
    schedule.weekday, schedule.send_time, schedule.timezone = weekday, send_time, tz_name
    session.flush()
    draft = session.scalar(select(Issue).where(Issue.status == IssueStatus.DRAFT))
    if draft is not None:
        draft.scheduled_at = next_slot(schedule, now or utcnow())
