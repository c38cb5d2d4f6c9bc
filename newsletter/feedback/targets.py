"""Which copy each event is about, for a whole set of events in a few queries.

An event is tied to a delivery (hence an issue and a subscriber) by what can be
trusted: the verified VERP address, the original Message-ID when the report is
signed or came to a verified address, or (for a provider that gives only the
address) the last copy sent to it. When retention has deleted the copy's row, the
subscriber a verified id names is the target, with no copy. The inbox applies
events in sets, so the copies are looked up per kind of tie, one query each, not
one query per event.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..config import Settings
from ..delivery.models import Delivery, DeliveryStatus
from ..issues.models import Issue
from .event import Event
from .models import FeedbackSource

_ISSUE_MESSAGE_ID = re.compile(r"issue-(\d{1,9})\.sub-(\d{1,12})@(.+)")
MAIL_SOURCES = (FeedbackSource.SMTP, FeedbackSource.IMAP)
ANOTHER_COPY = "names another copy"  # when the address and the returned copy disagree
LOOKUP_CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class Target:
    delivery_id: int | None
    issue_id: int | None
    subscriber_id: int
    email: str
    subscriber_status: str
    issue_status: str | None = None
    delivery_status: str | None = None


def _our_domain(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[1].rpartition("@")[2].lower() or "localhost"


def _named_copy(our_domain: str, message_id: str) -> tuple[int, int] | None:
    match = _ISSUE_MESSAGE_ID.fullmatch(message_id)
    if match and match.group(3).lower() == our_domain:
        return int(match.group(1)), int(match.group(2))
    return None


def _copies():
    return (select(Delivery.id, Delivery.issue_id, Delivery.subscriber_id, Subscriber.email,
                   Subscriber.status.label("subscriber_status"), Issue.status.label("issue_status"),
                   Delivery.status.label("delivery_status"))
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).join(Issue, Issue.id == Delivery.issue_id))


def _chunks(values: list) -> list[list]:
    return [values[i:i + LOOKUP_CHUNK] for i in range(0, len(values), LOOKUP_CHUNK)]


def find(session: Session, settings: Settings, events: list[Event]) -> list[Target | str | None]:
    """For each event, in order: its copy, ANOTHER_COPY, or None (it ties to nothing).
    An event whose copy retention has rolled up still reaches its subscriber when a
    verified id names them (`_rolled_up_subscriber`), tied to no copy."""
    by_delivery = sorted({e.delivery_id for e in events if e.delivery_id is not None})
    domain = _our_domain(settings)
    named = {e.message_id: _named_copy(domain, e.message_id) for e in events
             if e.delivery_id is None and e.message_id}
    pairs = sorted({pair for pair in named.values() if pair})
    rows_by_id, rows_by_pair = {}, {}
    for chunk in _chunks(by_delivery):
        rows_by_id.update((row.id, row) for row in session.execute(_copies().where(Delivery.id.in_(chunk))))
    for chunk in _chunks(pairs):
        rows_by_pair.update(((row.issue_id, row.subscriber_id), row) for row in session.execute(
            _copies().where(tuple_(Delivery.issue_id, Delivery.subscriber_id).in_(chunk))))
    rows = []
    for event in events:
        if event.delivery_id is not None:
            rows.append(rows_by_id.get(event.delivery_id))
        elif event.message_id:
            rows.append(rows_by_pair.get(named[event.message_id]) if named[event.message_id] else None)
        elif event.subscriber_id is None and event.email:
            rows.append(_last_copy_to(session, event.email))
        else:
            rows.append(None)
    alone = [None if row is not None else _rolled_up_subscriber(event, named)
             for event, row in zip(events, rows)]
    subscribers = {}
    for chunk in _chunks(sorted({sid for sid in alone if sid is not None})):
        subscribers.update((row.id, row) for row in session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.status).where(Subscriber.id.in_(chunk))))
    return [_checked(event, row) if row is not None else _subscriber_alone(event, subscribers.get(sid))
            for event, row, sid in zip(events, rows, alone)]


def _rolled_up_subscriber(event: Event, named: dict) -> int | None:
    """The subscriber an event names by a verified id, when no copy row answers: a
    confirmation or welcome mail's address, a copy's address (its subscriber is under
    the MAC), or, in a signed report, a Message-ID of ours. Never the report's own
    words: anyone can write a bounce about anybody."""
    if event.subscriber_id is not None:
        return event.subscriber_id
    if event.delivery_id is None and event.message_id and event.source not in MAIL_SOURCES:
        pair = named.get(event.message_id)
        return pair[1] if pair else None
    return None


def _subscriber_alone(event: Event, sub) -> Target | str | None:
    if sub is None:
        return None
    if event.email and event.source not in MAIL_SOURCES and event.email.strip().lower() != sub.email.lower():
        return None  # a signed report about one address cannot act on another subscriber
    named = _ISSUE_MESSAGE_ID.fullmatch(event.message_id) if event.delivery_id is not None else None
    if named and int(named.group(2)) != sub.id:
        return ANOTHER_COPY
    return Target(None, None, sub.id, sub.email, sub.status)


def _last_copy_to(session: Session, email: str):
    return session.execute(
        _copies().where(Subscriber.email_key == email.strip().lower(),
                        Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.BOUNCED)))
        .order_by(Delivery.id.desc()).limit(1)
    ).first()


def _checked(event: Event, row) -> Target | str | None:
    if row is None:
        return None
    if event.email and event.source not in MAIL_SOURCES and event.email.strip().lower() != row.email.lower():
        return None  # a signed report about one address cannot act on another's copy
    named = _ISSUE_MESSAGE_ID.fullmatch(event.message_id) if event.delivery_id is not None else None
    if named and (int(named.group(1)), int(named.group(2))) != (row.issue_id, row.subscriber_id):
        return ANOTHER_COPY
    return Target(row.id, row.issue_id, row.subscriber_id, row.email, row.subscriber_status, row.issue_status,
                  row.delivery_status)
