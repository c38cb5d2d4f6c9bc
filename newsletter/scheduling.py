"""When issues go out: the weekly slot, scheduling by editors, and the due-scan.

The scheduler scans the database each minute instead of using Celery ETAs: with
Redis an ETA task is redelivered after the visibility timeout and would run
twice. Every state change here is a conditional UPDATE on the issue's status, so
two schedulers, or a scheduler and an editor, can never both win: the one whose
UPDATE matched the row is the one that acted.

Editors think in the schedule's time zone; the database holds UTC.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .db import utcnow
from .models import Issue, IssueStatus, SendSchedule
from .rendering import RenderError

log = logging.getLogger(__name__)
# "Send now" and a time typed for this very minute are fine; earlier is a mistake.
PAST_GRACE = timedelta(minutes=1)
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


def schedule(
    session: Session, issue: Issue, when: datetime, *, failing_checks: list[str], override: bool,
    now: datetime | None = None,
) -> None:
    """Schedule (or reschedule) the issue for `when` (UTC); "send now" is `when=now`."""
    now = now or utcnow()
    if when < now - PAST_GRACE:
        raise SchedulingError("that time has passed; pick a time in the future or send now")
    if failing_checks and not override:
        raise SchedulingError("fix the failing checks first, or tick the box to send anyway: " + "; ".join(failing_checks))
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue.id, Issue.status.in_((IssueStatus.DRAFT, IssueStatus.SCHEDULED)))
        .values(status=IssueStatus.SCHEDULED, scheduled_at=when, checks_overridden=bool(failing_checks),
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise SchedulingError("sending has already started; it can no longer be rescheduled")
    session.refresh(issue)


def cancel(session: Session, issue: Issue, now: datetime | None = None) -> None:
    """Back to draft, planned for the next weekly slot, unless the scheduler got there first."""
    now = now or utcnow()
    result = session.execute(
        update(Issue)
        .where(Issue.id == issue.id, Issue.status == IssueStatus.SCHEDULED)
        .values(status=IssueStatus.DRAFT, checks_overridden=False, updated_at=now,
                scheduled_at=next_slot(get_schedule(session), now))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise SchedulingError("only a scheduled issue can be cancelled, before sending starts")
    session.refresh(issue)


def due_issue_ids(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Issue.id)
            .where(Issue.status == IssueStatus.SCHEDULED, Issue.scheduled_at <= now)
            .order_by(Issue.scheduled_at)
        )
    )


def start_due(session: Session, freeze: Callable[[Issue], dict[str, str] | None], now: datetime | None = None) -> list[int]:
    """Move every due issue from scheduled to sending; return the ids this call moved.

    `freeze(issue)` renders the content to freeze (or None when there is nothing
    to send, which skips the issue; a RenderError leaves it scheduled). Each move is ONE conditional UPDATE that
    also writes the frozen content: if another scheduler (or an editor's cancel)
    changed the row first, this UPDATE matches nothing and this call moves
    nothing. The caller commits, and only then hands the ids to delivery.
    """
    from .digest import load_issue

    now = now or utcnow()
    started = []
    for issue_id in due_issue_ids(session, now):
        issue = load_issue(session, issue_id)
        if issue is None:
            continue
        seen_update = issue.updated_at
        try:
            content = freeze(issue)
        except RenderError as exc:
            # Stays scheduled; the editor sees the same error on the preview.
            log.error("issue #%s is due but cannot be rendered: %s", issue.number, exc)
            continue
        guard = (Issue.id == issue_id, Issue.status == IssueStatus.SCHEDULED, Issue.updated_at == seen_update)
        if content is None:
            session.execute(
                update(Issue).where(*guard)
                .values(status=IssueStatus.SKIPPED, finished_at=now,
                        skip_reason="Nothing to send: the issue had no comparisons at its send time.")
                .execution_options(synchronize_session=False)
            )
            continue
        result = session.execute(
            update(Issue).where(*guard)
            .values(status=IssueStatus.SENDING, sending_started_at=now, updated_at=now, **content)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            started.append(issue_id)
        session.expire(issue)
    return started
