"""The sweeper: the periodic safety net, so nothing relies on a Celery message arriving."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, exists, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import utcnow
from ..issues.models import Issue, IssueStatus
from .ledger import due_count, finish_if_done
from .models import Delivery
from .models import DeliveryStatus as D

_t = Delivery.__table__


@dataclass
class Sweep:
    to_dispatch: list[int] = field(default_factory=list)
    expired: int = 0
    finished: list[int] = field(default_factory=list)


def sweep(session: Session, settings: Settings, now: datetime | None = None) -> Sweep:
    """The periodic safety net: nothing relies on a Celery message arriving.

    Rows whose lease expired (their worker died) become due again; sending issues
    with due rows and no live claim are returned for a dispatch (which also
    snapshots an issue that has no rows yet); finished issues are closed.
    """
    now = now or utcnow()
    result = Sweep()
    result.expired = session.execute(
        update(_t)
        .where(_t.c.status == D.SENDING, _t.c.lease_expires_at < now)
        .values(
            status=case((_t.c.attempts >= settings.send_max_attempts, D.FAILED.value), else_=D.DEFERRED.value),
            last_reply="worker lost while sending (lease expired)",
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
    ).rowcount or 0
    for issue_id in session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)):
        has_rows = session.scalar(select(exists().where(Delivery.issue_id == issue_id)))
        if not has_rows:
            result.to_dispatch.append(issue_id)
            continue
        if finish_if_done(session, issue_id, now):
            result.finished.append(issue_id)
            continue
        busy = session.scalar(
            select(exists().where(Delivery.issue_id == issue_id, Delivery.status == D.SENDING))
        )
        stale = now - timedelta(seconds=60)
        stuck = session.scalar(
            select(exists().where(
                Delivery.issue_id == issue_id,
                Delivery.status.in_(D.WAITING),
                Delivery.next_attempt_at <= stale,
            ))
        )
        if (not busy and due_count(session, issue_id, now)) or stuck:
            result.to_dispatch.append(issue_id)
    return result

