"""From a normalised event to what happens to the subscriber, recorded once.

Every way in (the SMTP receiver, the IMAP poller, four webhooks) hands `apply()`
an `Event`; this is the only place that decides:

- a hard bounce suppresses the subscriber (`bounced`, with the reason) and moves the
  copy's delivery row from `sent` to `bounced`, then lets the bounce-rate guard
  look at the issue;
- a soft bounce is counted: SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_DAYS
  suppress the subscriber;
- a complaint unsubscribes at once as `complained`;
- an unsubscribe (a provider's list-unsubscribe) unsubscribes.

An event is tied to a delivery (hence an issue and a subscriber) by what can be
trusted: the verified VERP address, the original Message-ID when the report is
signed or came to a verified address, or (for a provider that gives only the
address) the last copy sent to it. An event that ties to nothing changes nothing
and is not stored; one already recorded (same provider event id, or same delivery
and kind) changes nothing again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..audience import subscriptions, suppression
from ..audience.models import Subscriber, SubscriberStatus
from ..config import Settings
from ..db import insert_for, utcnow
from ..delivery import guard, ledger
from ..delivery.models import Delivery, DeliveryStatus
from ..issues.models import Issue
from .models import FeedbackEvent, FeedbackKind, FeedbackSource

_ISSUE_MESSAGE_ID = re.compile(r"issue-(\d{1,9})\.sub-(\d{1,12})@(.+)")
MAIL_SOURCES = (FeedbackSource.SMTP, FeedbackSource.IMAP)


@dataclass(frozen=True)
class Event:
    source: str
    event_key: str  # the provider's event id, or the bounce mail's own id
    kind: FeedbackKind
    delivery_id: int | None = None  # from a verified VERP address
    subscriber_id: int | None = None  # from a verified confirmation VERP address
    message_id: str = ""  # the original copy's Message-ID, without <>
    email: str = ""  # the address the report is about
    status: str = ""
    reason: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Applied:
    recorded: bool
    action: str
    issue_id: int | None = None
    paused: str | None = None  # the guard's reason, if this event paused the issue


@dataclass(frozen=True)
class _Target:
    delivery_id: int | None
    issue_id: int | None
    subscriber_id: int
    email: str
    subscriber_status: str
    issue_status: str | None = None


ANOTHER_COPY = "names another copy"  # Applied.action when the address and the returned copy disagree


def _our_domain(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[1].rpartition("@")[2].lower() or "localhost"


def _target(session: Session, settings: Settings, event: Event) -> _Target | str | None:
    """The copy the event is about, in one query; ANOTHER_COPY when a verified address
    and the returned copy's Message-ID name different copies."""
    columns = (Delivery.id, Delivery.issue_id, Delivery.subscriber_id, Subscriber.email,
               Subscriber.status.label("subscriber_status"), Issue.status.label("issue_status"))
    query = (select(*columns).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
             .join(Issue, Issue.id == Delivery.issue_id))
    row = None
    if event.delivery_id is not None:
        row = session.execute(query.where(Delivery.id == event.delivery_id)).first()
    elif event.message_id:
        match = _ISSUE_MESSAGE_ID.fullmatch(event.message_id)
        if match and match.group(3).lower() == _our_domain(settings):
            row = session.execute(query.where(Delivery.issue_id == int(match.group(1)),
                                              Delivery.subscriber_id == int(match.group(2)))).first()
    elif event.subscriber_id is not None:
        found = session.execute(select(Subscriber.id, Subscriber.email, Subscriber.status)
                                .where(Subscriber.id == event.subscriber_id)).first()
        return _Target(None, None, found.id, found.email, found.status) if found else None
    elif event.email:
        row = session.execute(
            query.where(Subscriber.email_key == event.email.strip().lower(),
                        Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED)))
            .order_by(Delivery.id.desc()).limit(1)
        ).first()
    if row is None:
        return None
    if event.email and event.source not in MAIL_SOURCES and event.email.strip().lower() != row.email.lower():
        return None  # a signed report about one address cannot act on another's copy
    named = _ISSUE_MESSAGE_ID.fullmatch(event.message_id) if event.delivery_id is not None else None
    if named and (int(named.group(1)), int(named.group(2))) != (row.issue_id, row.subscriber_id):
        return ANOTHER_COPY
    return _Target(row.id, row.issue_id, row.subscriber_id, row.email, row.subscriber_status, row.issue_status)


def _record(session: Session, event: Event, target: _Target, now: datetime) -> int | None:
    return session.scalar(
        insert_for(session)(FeedbackEvent)
        .values(source=event.source, event_key=event.event_key[:200], kind=event.kind,
                delivery_id=target.delivery_id, issue_id=target.issue_id, subscriber_id=target.subscriber_id,
                email=(event.email or target.email)[:254], status=event.status[:20], reason=event.reason[:2000],
                action="", occurred_at=event.occurred_at or now, received_at=now)
        .on_conflict_do_nothing()
        .returning(FeedbackEvent.id)
    )


def apply(session: Session, settings: Settings, event: Event, now: datetime | None = None) -> Applied:
    """Record the event once and act on it; never commits."""
    now = now or utcnow()
    target = _target(session, settings, event)
    if target is None:
        return Applied(False, "unknown delivery: nothing changed")
    if target == ANOTHER_COPY:
        return Applied(False, ANOTHER_COPY)
    event_id = _record(session, event, target, now)
    if event_id is None:
        return Applied(False, "already recorded", target.issue_id)
    paused = None
    reason = event.reason or event.status or event.kind
    if event.kind == FeedbackKind.HARD_BOUNCE:
        action = _suppress(session, target, f"bounced: {reason}", now)
        if target.delivery_id is not None and ledger.bounced_after(session, target.delivery_id, reason, now):
            paused = guard.check(session, settings, target.issue_id, target.issue_status)
    elif event.kind == FeedbackKind.SOFT_BOUNCE:
        action = _soft(session, settings, target, reason, now)
    elif event.kind == FeedbackKind.COMPLAINT:
        changed = suppression.mark_complained(session, target.subscriber_id, now)
        action = "unsubscribed: complaint" if changed else "already marked as a complaint"
    else:
        subscriber = session.get(Subscriber, target.subscriber_id)
        moved = subscriber.status in (SubscriberStatus.CONFIRMED, SubscriberStatus.PENDING) and \
            subscriptions.unsubscribe(session, subscriber, now)
        action = "unsubscribed" if moved else f"nothing to do: subscriber is {subscriber.status}"
    if paused:
        action += "; the issue paused at the bounce-rate limit"
    session.execute(update(FeedbackEvent).where(FeedbackEvent.id == event_id).values(action=action[:200]))
    return Applied(True, action, target.issue_id, paused)


def _suppress(session: Session, target: _Target, reason: str, now: datetime) -> str:
    """By the status `_target` read: both writes are conditional, so one that moved
    meanwhile (a pending address confirmed) is still handled by the other."""
    status = target.subscriber_status
    if status == SubscriberStatus.PENDING and suppression.refuse_confirmation(session, target.subscriber_id,
                                                                             reason, now):
        return "suppressed: the confirmation mail bounced"
    if status not in (*SubscriberStatus.RECEIVING, SubscriberStatus.PENDING):
        return f"recorded: subscriber is {status}"
    suppression.mark_bounced(session, [(target.subscriber_id, reason)], now)  # only a receiving row moves
    return "suppressed: bounced"


def _soft(session: Session, settings: Settings, target: _Target, reason: str, now: datetime) -> str:
    since = now - timedelta(days=settings.soft_bounce_days)
    count = session.scalar(
        select(func.count()).where(FeedbackEvent.subscriber_id == target.subscriber_id,
                                   FeedbackEvent.kind == FeedbackKind.SOFT_BOUNCE,
                                   FeedbackEvent.received_at >= since)
    ) or 0
    if count < settings.soft_bounce_limit:
        return f"soft bounce {count} of {settings.soft_bounce_limit} in {settings.soft_bounce_days} days"
    return _suppress(session, target,
                     f"{count} soft bounces in {settings.soft_bounce_days} days; last: {reason}", now) \
        + f" after {count} soft bounces"
