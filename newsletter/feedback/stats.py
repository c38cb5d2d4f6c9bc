"""What editors see of the feedback: per issue, and the sender's health over 30 days.

The thresholds are the ones that cost a sender its reputation: SES reviews an
account whose bounce rate passes 5 % and complaint rate passes 0.1 %; Gmail asks
bulk senders to stay under 0.3 % complaints. Rates are over the copies tried
(delivered or bounced), the way the providers count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..config import Settings
from ..db import utcnow
from ..delivery import retention
from ..delivery.models import Delivery
from ..delivery.models import DeliveryStatus as D
from . import inbox
from .models import Disposition, FeedbackEvent, FeedbackKind, InboundMessage

COMPLAINT_LIMIT_SES = 0.1  # percent
COMPLAINT_LIMIT_GMAIL = 0.3
HEALTH_DAYS = 30


def percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


@dataclass(frozen=True)
class IssueFeedback:
    delivered: int  # accepted by the relay and not bounced since
    hard_bounced: int  # refused at RCPT, or bounced later
    soft_bounced: int
    complaints: int
    unsubscribes: int  # reported by a provider (list-unsubscribe through it)

    @property
    def tried(self) -> int:
        return self.delivered + self.hard_bounced

    def rate(self, count: int) -> float:
        return percent(count, self.tried)

    def as_dict(self) -> dict:
        names = ("delivered", "hard_bounced", "soft_bounced", "complaints", "unsubscribes")
        return {name: {"count": getattr(self, name), "rate": round(self.rate(getattr(self, name)), 2)}
                for name in names}


def for_issue(session: Session, issue_id: int) -> IssueFeedback:
    rows = retention.with_rolled_up(session, issue_id, dict(session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id, Delivery.status.in_((D.SENT, D.BOUNCED))).group_by(Delivery.status)
    ).all()))
    kinds = dict(session.execute(
        select(FeedbackEvent.kind, func.count()).where(FeedbackEvent.issue_id == issue_id).group_by(FeedbackEvent.kind)
    ).all())
    return IssueFeedback(rows.get(D.SENT, 0), rows.get(D.BOUNCED, 0), kinds.get(FeedbackKind.SOFT_BOUNCE, 0),
                         kinds.get(FeedbackKind.COMPLAINT, 0), kinds.get(FeedbackKind.UNSUBSCRIBE, 0))


@dataclass
class Health:
    since: datetime
    tried: int
    hard_bounced: int
    complaints: int
    max_bounce_rate: float
    events: list = field(default_factory=list)  # the latest FeedbackEvents, with the subscriber's address
    unparsed: list = field(default_factory=list)  # the latest InboundMessages nobody could read
    waiting: int = 0  # inbox entries not applied yet (a worker is on them, or no worker runs)
    stuck: list = field(default_factory=list)  # inbox entries that failed every attempt, with their error

    @property
    def bounce_rate(self) -> float:
        return percent(self.hard_bounced, self.tried)

    @property
    def complaint_rate(self) -> float:
        return percent(self.complaints, self.tried)

    @property
    def bounce_ok(self) -> bool:
        return self.bounce_rate <= self.max_bounce_rate

    @property
    def complaint_ok(self) -> bool:
        return self.complaint_rate <= COMPLAINT_LIMIT_SES


def sender_health(session: Session, settings: Settings, now: datetime | None = None, limit: int = 50) -> Health:
    # Counts the rows themselves: retention (DELIVERY_RETENTION_DAYS, at least
    # HEALTH_DAYS) only rolls up copies sent before this window.
    since = (now or utcnow()) - timedelta(days=HEALTH_DAYS)
    when = func.coalesce(Delivery.sent_at, Delivery.updated_at)
    rows = dict(session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.status.in_((D.SENT, D.BOUNCED)), when >= since).group_by(Delivery.status)
    ).all())
    complaints = session.scalar(select(func.count()).where(
        FeedbackEvent.kind == FeedbackKind.COMPLAINT, FeedbackEvent.received_at >= since)) or 0
    events = session.execute(
        select(FeedbackEvent, Subscriber.email.label("subscriber_email"))
        .outerjoin(Subscriber, Subscriber.id == FeedbackEvent.subscriber_id)
        .order_by(FeedbackEvent.received_at.desc(), FeedbackEvent.id.desc()).limit(limit)
    ).all()
    unparsed = session.scalars(
        select(InboundMessage).where(InboundMessage.disposition == Disposition.UNPARSED)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit)
    ).all()
    tried = rows.get(D.SENT, 0) + rows.get(D.BOUNCED, 0)
    return Health(since, tried, rows.get(D.BOUNCED, 0), complaints, settings.max_bounce_rate,
                  list(events), list(unparsed), inbox.backlog(session), inbox.stuck(session, limit))
