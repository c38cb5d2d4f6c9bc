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
from . import snapshot
from .models import Delivery, DeliverySnapshot, status_in
from .models import DeliveryStatus as D

_t = Delivery.__table__

LOST = "worker lost while sending (lease expired)"
# A live chain writes rows at least this often: a run of at most 30 s, then at most a
# minute until its successor (`workers.delivery.MAX_COUNTDOWN`), with room for a queue.
ACTIVE_SECONDS = 150.0
# A dispatch takes a chunk of the snapshot every second or so; this long without one, it died.
SNAPSHOT_STALLED_SECONDS = 60.0


@dataclass
class Sweep:
    to_dispatch: list[int] = field(default_factory=list)
    expired: int = 0
    finished: list[int] = field(default_factory=list)


def sweep(session: Session, settings: Settings, now: datetime | None = None) -> Sweep:
    """The periodic safety net: nothing relies on a Celery message arriving.

    Rows whose lease expired (their worker died) become due again, and their issue
    is returned for a dispatch at once: its chains died with the worker. Other
    sending issues are returned only when their chains are gone (no row claimed,
    none written for ACTIVE_SECONDS) and rows are due; an issue with no rows yet
    too (the dispatch snapshots it). A sweep every 15 s that started chains for a
    send whose chains were only between runs stacked more of them each time.
    Finished issues are closed. An issue whose snapshot has not started, or stopped
    part-way (its dispatch died), is dispatched again: it goes on from where it was.
    """
    now = now or utcnow()
    result = Sweep()
    handed_back = session.execute(
        update(_t)
        .where(status_in(D.SENDING), _t.c.lease_expires_at < now)
        .values(
            status=case((_t.c.attempts >= settings.send_max_attempts, D.FAILED.value), else_=D.DEFERRED.value),
            last_reply=LOST,
            lease_expires_at=None,
            next_attempt_at=now,
            updated_at=now,
        )
        .returning(_t.c.issue_id)
    ).scalars().all()
    lost, result.expired = set(handed_back), len(handed_back)
    stalled = snapshot.stalled(session, now - timedelta(seconds=SNAPSHOT_STALLED_SECONDS))
    for issue_id in session.scalars(select(Issue.id).where(Issue.status == IssueStatus.SENDING)):
        progress = session.get(DeliverySnapshot, issue_id)
        if progress is None or issue_id in stalled:
            result.to_dispatch.append(issue_id)  # no snapshot yet, or its dispatch died mid-way
            continue
        if progress.cursor < progress.upto:
            continue  # a dispatch is taking the snapshot, and starts the chains
        if finish_if_done(session, issue_id, now):
            result.finished.append(issue_id)
            continue
        if issue_id in lost or (not chains_alive(session, issue_id, now) and due_count(session, issue_id, now)):
            result.to_dispatch.append(issue_id)
    return result


def chains_alive(session: Session, issue_id: int, now: datetime) -> bool:
    """Some send chain of the issue is at work: rows are claimed, or a chain wrote
    outcomes lately (accepted, deferred, failed, skipped). Not bounced: a late bounce
    (`feedback`) moves rows without any chain running, and neither does the sweeper's
    own hand-back of a lost worker's rows count."""
    if session.scalar(select(exists().where(Delivery.issue_id == issue_id, status_in(D.SENDING)))):
        return True  # the usual answer during a send, from the open rows' index alone
    since = now - timedelta(seconds=ACTIVE_SECONDS)
    return bool(session.scalar(select(exists().where(
        Delivery.issue_id == issue_id,
        (Delivery.sent_at >= since)
        | (Delivery.status.in_((D.DEFERRED, D.FAILED, D.SKIPPED)) & (Delivery.updated_at >= since)
           & (Delivery.last_reply != LOST)),
    ))))
