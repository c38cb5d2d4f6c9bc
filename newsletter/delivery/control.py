"""Steering a send: pause, resume, cancel, each a move in the issue's lifecycle.

Services: they take a session and never commit; the caller commits, and after
`resume()` hands the issue back to the workers (`dispatch_issue`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..issues import lifecycle
from .models import Delivery, status_in
from .models import DeliveryStatus as D

_t = Delivery.__table__


class DeliveryError(ValueError):
    """An editor action that does not fit the issue's state; the message says why."""


def pause(session: Session, issue_id: int, reason: str = "paused by an editor") -> bool:
    """Stop claiming new batches; rows in flight finish. True if the issue was sending."""
    return lifecycle.move(session, issue_id, "pause", pause_reason=reason[:2000])


def resume(session: Session, issue_id: int) -> bool:
    """Paused → sending; the caller enqueues `dispatch_issue` after committing."""
    return lifecycle.move(session, issue_id, "resume", pause_reason="")


def cancel(session: Session, issue_id: int, now: datetime | None = None) -> int:
    """Sending or paused → cancelled; rows not yet sent are skipped. Returns rows skipped."""
    now = now or utcnow()
    if not lifecycle.move(session, issue_id, "cancel", finished_at=now):
        raise DeliveryError("only an issue that is sending or paused can be cancelled")
    return session.execute(
        update(_t)
        .where(_t.c.issue_id == issue_id, status_in(*D.WAITING))
        .values(status=D.SKIPPED, last_reply="issue cancelled", updated_at=now)
    ).rowcount or 0
