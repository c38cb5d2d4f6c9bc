"""How a send stands, or how it went: for the editor's page and `newsletter status`."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..config import Settings
from ..db import utcnow
from ..issues.models import Issue, IssueStatus
from . import groups, retention, snapshot
from .models import Delivery
from .models import DeliveryStatus as D


@dataclass
class GroupPace:
    """One receiving-domain group of a send: what waits, what the group's provider
    throttled, and how fast the group may go now (`pacing`)."""

    group: str
    waiting: int  # pending or deferred: still to send
    deferred: int
    throttled: int  # deferred now because the provider said slow down (421, 4.7.x)
    throttles: int  # every "slow down" the group's copies got in this send, sent since or not
    configured_rate: float  # messages/s (PACING_LIMITS), 0: none
    current_rate: float | None  # the AIMD rate after throttles; None: the configured rate alone
    warmup_cap: int  # today's warm-up cap, 0: none
    warmup_used: int  # granted today under that cap
    pace_known: bool = True  # False: the shared pacing state was out of reach (rate and use unknown)

    @property
    def slowed(self) -> bool:
        return self.current_rate is not None

    def as_dict(self) -> dict:
        return {
            "group": self.group, "waiting": self.waiting, "deferred": self.deferred, "throttled": self.throttled,
            "throttles": self.throttles,
            "configured_rate": self.configured_rate,
            "current_rate": None if self.current_rate is None else round(self.current_rate, 2),
            "warmup_cap": self.warmup_cap, "warmup_used": self.warmup_used, "pace_known": self.pace_known,
        }


@dataclass
class Report:
    """Where a send stands, or how it went: for the editor's page and the CLI."""

    issue_id: int
    number: int
    status: str
    pause_reason: str
    counts: dict[str, int]
    started_at: datetime | None
    finished_at: datetime | None
    last_sent_at: datetime | None
    rate_per_s: float  # over the last minute while sending, else on average
    reasons: list[tuple[str, int]]  # bounce and failure replies, most common first
    last_errors: list[tuple[str, str, str]]  # (address, status, reply), newest first
    groups: list[GroupPace] = field(default_factory=list)  # with `settings` and a pacer only
    adding: bool = False  # the audience snapshot is still adding readers (`snapshot`): `total` grows

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def delivered(self) -> int:
        return self.count(D.SENT)

    @property
    def bounced(self) -> int:
        return self.count(D.BOUNCED)

    @property
    def failed(self) -> int:
        return self.count(D.FAILED)

    @property
    def done(self) -> int:
        return self.total - sum(self.count(status) for status in D.OPEN)

    @property
    def duration_s(self) -> float | None:
        end = self.finished_at or self.last_sent_at
        if self.started_at is None or end is None:
            return None
        return max((end - self.started_at).total_seconds(), 0.0)

    def as_dict(self) -> dict:
        return {
            "issue_id": self.issue_id, "number": self.number, "status": self.status,
            "pause_reason": self.pause_reason, "total": self.total, "done": self.done,
            "counts": {s.value: self.count(s) for s in D}, "rate_per_s": round(self.rate_per_s, 1),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 1),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "reasons": [{"reply": r, "count": n} for r, n in self.reasons],
            "last_errors": [{"email": e, "status": s, "reply": r} for e, s, r in self.last_errors],
            "groups": [g.as_dict() for g in self.groups], "adding": self.adding,
        }


def report(session: Session, issue_id: int, now: datetime | None = None, settings: Settings | None = None,
           pacer=None) -> Report | None:
    """The send's counts; with `settings` and a `pacing` pacer also each group's pace."""
    now = now or utcnow()
    issue = session.get(Issue, issue_id)
    if issue is None:
        return None
    counts = dict(
        session.execute(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        ).all()
    )
    last_sent = session.scalar(select(func.max(Delivery.sent_at)).where(Delivery.issue_id == issue_id))
    # An old issue's delivered rows may be counts now (`retention`): the same numbers.
    rolled, rolled_last = retention.rolled_up(session, issue_id)
    counts = {status: counts.get(status, 0) + rolled.get(status, 0) for status in {*counts, *rolled}}
    if rolled_last is not None and (last_sent is None or rolled_last > last_sent):
        last_sent = rolled_last
    recent = session.scalar(
        select(func.count()).where(
            Delivery.issue_id == issue_id, Delivery.status == D.SENT, Delivery.sent_at >= now - timedelta(seconds=60)
        )
    ) or 0
    reasons = session.execute(
        select(Delivery.last_reply, func.count())
        .where(Delivery.issue_id == issue_id, Delivery.status.in_(D.REFUSED))
        .group_by(Delivery.last_reply)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    errors = session.execute(
        select(Subscriber.email, Delivery.status, Delivery.last_reply)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.issue_id == issue_id, Delivery.status.in_(D.REFUSED + (D.DEFERRED,)))
        .order_by(Delivery.updated_at.desc())
        .limit(10)
    ).all()
    sent = counts.get(D.SENT, 0)
    if issue.status == IssueStatus.SENDING:
        rate = recent / 60
    elif issue.sending_started_at and last_sent and last_sent > issue.sending_started_at:
        rate = sent / (last_sent - issue.sending_started_at).total_seconds()
    else:
        rate = 0.0
    return Report(
        issue_id=issue.id, number=issue.number, status=issue.status, pause_reason=issue.pause_reason,
        counts=counts, started_at=issue.sending_started_at, finished_at=issue.finished_at, last_sent_at=last_sent,
        rate_per_s=rate, reasons=[(r, n) for r, n in reasons], last_errors=[tuple(e) for e in errors],
        groups=paces(session, settings, issue_id, pacer) if settings is not None and pacer is not None else [],
        adding=issue.status in IssueStatus.LIVE and not snapshot.complete(session, issue_id),
    )


# A throttle's reply (`mail.transport.smtp.verdict_for`): 421, or any 4xx with an
# enhanced status 4.7.x. A throttled copy waits `deferred` with it as its last reply.
_THROTTLED = or_(Delivery.last_reply.like("421%"), Delivery.last_reply.like("4__ 4.7.%"))


def paces(session: Session, settings: Settings, issue_id: int, pacer) -> list[GroupPace]:
    """Each receiving-domain group the issue has rows in, in the settings' order.

    The counts come from the rows; the rates and today's warm-up use from the pacer
    the workers share (in Redis; without Redis only this process's own). With Redis
    out of reach the counts still show, the rates as unknown."""
    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    deferred = Delivery.status == D.DEFERRED
    rows = session.execute(
        select(Delivery.pacing_group, total(Delivery.status.in_(D.WAITING)), total(deferred),
               total(deferred & _THROTTLED), func.coalesce(func.sum(Delivery.throttles), 0))
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.pacing_group)
    ).all()
    order = {name: n for n, name in enumerate(groups.names(settings))}
    result = []
    for group, waiting, held, throttled, throttles in sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[0])):
        cap, state = pacer.cap(group)[0], pacer.state(group)
        current, used = state or (None, 0)
        result.append(GroupPace(
            group=group, waiting=int(waiting), deferred=int(held), throttled=int(throttled), throttles=int(throttles),
            configured_rate=pacer.limit(group).rate, current_rate=current, warmup_cap=cap,
            warmup_used=used if cap else 0, pace_known=state is not None,
        ))
    return result
