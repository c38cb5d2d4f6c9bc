"""From normalised events to what happens to each subscriber, recorded once.

Every way in (the SMTP receiver, the IMAP poller, four webhooks) ends in the inbox,
and the inbox hands `apply_many()` a set of `Event`s; this is the only place that
decides:

- a hard bounce suppresses the subscriber (`bounced`, with the reason) and moves the
  copy's delivery row from `sent` to `bounced`, then lets the bounce-rate guard
  look at the issue;
- a soft bounce is counted: SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_DAYS
  suppress the subscriber;
- a complaint unsubscribes at once as `complained`;
- an unsubscribe (a provider's list-unsubscribe) unsubscribes.

Which copy an event is about is `targets.find`'s answer. An event that ties to
nothing changes nothing and is not stored; one already recorded (same provider
event id, or same delivery and kind, in the database or earlier in the same set)
changes nothing again. A set costs a handful of statements whatever its size: the
events are inserted in one statement, the suppressions and the delivery rows
written in one executemany each; complaints and unsubscribes, which are rare,
go one by one.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..audience import subscriptions, suppression
from ..audience.models import Subscriber, SubscriberStatus
from ..config import Settings
from ..db import insert_for, utcnow
from ..delivery import guard, ledger
from ..delivery.models import DeliveryStatus
from . import targets
from .event import Event
from .models import FeedbackEvent, FeedbackKind
from .targets import ANOTHER_COPY, Target

__all__ = ["ANOTHER_COPY", "Applied", "Event", "apply", "apply_many"]


@dataclass(frozen=True)
class Applied:
    recorded: bool
    action: str
    issue_id: int | None = None
    paused: str | None = None  # the guard's reason, if this event paused the issue


def apply(session: Session, settings: Settings, event: Event, now: datetime | None = None) -> Applied:
    """One event: `apply_many` of one. Never commits."""
    return apply_many(session, settings, [event], now)[0]


def apply_many(session: Session, settings: Settings, events: list[Event],
               now: datetime | None = None) -> list[Applied]:
    """Record each event once and act on it, in the order given; never commits."""
    if not events:
        return []
    now = now or utcnow()
    found = targets.find(session, settings, events)
    results: list[Applied | None] = [None] * len(events)
    fresh: list[tuple[int, Event, Target]] = []
    seen_keys, seen_copies = set(), set()
    for i, (event, target) in enumerate(zip(events, found)):
        if target is None:
            results[i] = Applied(False, "unknown delivery: nothing changed")
        elif target == ANOTHER_COPY:
            results[i] = Applied(False, ANOTHER_COPY)
        elif _key(event) in seen_keys or \
                (target.delivery_id is not None and (target.delivery_id, event.kind) in seen_copies):
            results[i] = Applied(False, "already recorded", target.issue_id)
        else:
            seen_keys.add(_key(event))
            if target.delivery_id is not None:
                seen_copies.add((target.delivery_id, event.kind))
            fresh.append((i, event, target))
    ids = _record(session, fresh, now)
    recorded = []
    for i, event, target in fresh:
        if _key(event) in ids:
            recorded.append((i, event, target))
        else:
            results[i] = Applied(False, "already recorded", target.issue_id)
    actions = _act(session, settings, recorded, now)
    if recorded:  # (an empty executemany would be an UPDATE of every row)
        session.execute(update(FeedbackEvent), [
            {"id": ids[_key(event)], "action": actions[i][0][:200]}
            for i, event, _ in recorded])
    for i, _, target in recorded:
        action, paused = actions[i]
        results[i] = Applied(True, action, target.issue_id, paused)
    return results


def _key(event: Event) -> tuple[str, str]:
    """What makes an event the same one again: its source and key, as stored."""
    return event.source, event.event_key[:200]


def _record(session: Session, fresh: list[tuple[int, Event, Target]], now: datetime) -> dict[tuple[str, str], int]:
    """Insert the events; {(source, key): id} of those that were new to the database.
    One executemany: SQLAlchemy batches it into multi-row INSERTs compiled once."""
    if not fresh:
        return {}
    rows = [dict(source=e.source, event_key=_key(e)[1], kind=e.kind, delivery_id=t.delivery_id,
                 issue_id=t.issue_id, subscriber_id=t.subscriber_id, email=(e.email or t.email)[:254],
                 status=e.status[:20], reason=e.reason[:2000], action="", occurred_at=e.occurred_at or now,
                 received_at=now) for _, e, t in fresh]
    inserted = session.connection().execute(
        insert_for(session)(FeedbackEvent.__table__).on_conflict_do_nothing()
        .returning(FeedbackEvent.__table__.c.id, FeedbackEvent.__table__.c.source,
                   FeedbackEvent.__table__.c.event_key), rows)
    return {(row.source, row.event_key): row.id for row in inserted}


def _act(session: Session, settings: Settings, recorded: list[tuple[int, Event, Target]],
         now: datetime) -> dict[int, tuple[str, str | None]]:
    """What each recorded event did: {index: (action, the guard's pause reason or None)}."""
    done: dict[int, tuple[str, str | None]] = {}
    suppressing = _Suppressions()
    soft_counts = _soft_counts(session, settings, recorded, now)
    bounced_copies: dict[int, tuple[int, str, str | None]] = {}  # delivery id: (issue id, reason, issue status)
    for i, event, target in recorded:
        reason = event.reason or event.status or event.kind
        if event.kind == FeedbackKind.HARD_BOUNCE:
            action = suppressing.add(session, target, f"bounced: {reason}", now)
            if target.delivery_id is not None and target.delivery_status == DeliveryStatus.SENT:
                bounced_copies[target.delivery_id] = (target.issue_id, reason, target.issue_status)
        elif event.kind == FeedbackKind.SOFT_BOUNCE:
            count = soft_counts[target.subscriber_id].pop(0)
            if count < settings.soft_bounce_limit:
                action = f"soft bounce {count} of {settings.soft_bounce_limit} in {settings.soft_bounce_days} days"
            else:
                action = suppressing.add(session, target, f"{count} soft bounces in {settings.soft_bounce_days} "
                                                          f"days; last: {reason}", now) + f" after {count} soft bounces"
        elif event.kind == FeedbackKind.COMPLAINT:
            changed = suppression.mark_complained(session, target.subscriber_id, now)
            action = "unsubscribed: complaint" if changed else "already marked as a complaint"
        else:
            subscriber = session.get(Subscriber, target.subscriber_id)
            moved = subscriber.status in (SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING) and \
                subscriptions.unsubscribe(session, subscriber, now)
            action = "unsubscribed" if moved else f"nothing to do: subscriber is {subscriber.status}"
        done[i] = (action, None)
    suppressing.write(session, now)
    ledger.bounced_after_many(session, [(d, reason) for d, (_, reason, _) in bounced_copies.items()], now)
    last_bounce = {target.issue_id: i for i, _, target in recorded if target.delivery_id in bounced_copies}
    for issue_id, status in {issue_id: status for issue_id, _, status in bounced_copies.values()}.items():
        paused = guard.check(session, settings, issue_id, status)
        if paused:  # told on the event that tipped it: the set's last bounce of that issue
            i = last_bounce[issue_id]
            done[i] = (done[i][0] + "; the issue paused at the bounce-rate limit", paused)
    return done


def _soft_counts(session: Session, settings: Settings, recorded, now: datetime) -> dict[int, list[int]]:
    """Per subscriber, the soft-bounce count each of this set's soft bounces makes, in order:
    the window's count (this set's events included, as they are inserted) minus those after it."""
    mine = Counter(t.subscriber_id for _, e, t in recorded if e.kind == FeedbackKind.SOFT_BOUNCE)
    if not mine:
        return {}
    since = now - timedelta(days=settings.soft_bounce_days)
    totals = dict(session.execute(
        select(FeedbackEvent.subscriber_id, func.count())
        .where(FeedbackEvent.subscriber_id.in_(sorted(mine)), FeedbackEvent.kind == FeedbackKind.SOFT_BOUNCE,
               FeedbackEvent.received_at >= since)
        .group_by(FeedbackEvent.subscriber_id)
    ).all())
    return {sid: [totals.get(sid, n) - n + k for k in range(1, n + 1)] for sid, n in mine.items()}


class _Suppressions:
    """The hard bounces of one set, written together. By the status `targets.find` read:
    both writes are conditional, so one that moved meanwhile (a pending address
    confirmed) is still handled by the other; a subscriber already suppressed earlier
    in the set reads as such."""

    def __init__(self):
        self.bounces: dict[int, str] = {}

    def add(self, session: Session, target: Target, reason: str, now: datetime) -> str:
        if target.subscriber_id in self.bounces:
            return f"recorded: subscriber is {SubscriberStatus.BOUNCED}"
        status = target.subscriber_status
        if status == SubscriberStatus.PENDING and suppression.refuse_confirmation(session, target.subscriber_id,
                                                                                 reason, now):
            self.bounces[target.subscriber_id] = ""
            return "suppressed: the confirmation mail bounced"
        if status not in (*SubscriberStatus.RECEIVING, SubscriberStatus.PENDING):
            return f"recorded: subscriber is {status}"
        self.bounces[target.subscriber_id] = reason  # only a receiving row moves
        return "suppressed: bounced"

    def write(self, session: Session, now: datetime) -> None:
        suppression.mark_bounced(session, sorted((sid, r) for sid, r in self.bounces.items() if r), now)
