"""The audience's category sets at the snapshot: each recipient's variant key is
copied from their subscriber by the snapshot itself (`ledger.start`), each distinct
key's variant is frozen (`readers.variants`), and whoever would get an empty mail is
marked `empty`.

Runs in the same transaction as `ledger.start`, before any row can be claimed, so
what a recipient gets is decided once, when sending starts.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import utcnow
from ..readers import variants
from .models import Delivery
from .models import DeliveryStatus as D

EMPTY_REPLY = "nothing in their categories this time"


def snapshot(session: Session, settings: Settings, issue_id: int) -> int:
    """Freeze the variants of the issue's new rows (`ledger.start` copied each reader's
    set into their row); return how many get nothing."""
    fresh = (Delivery.issue_id == issue_id, Delivery.status == D.PENDING, Delivery.attempts == 0)
    keys = set(session.scalars(select(Delivery.variant).where(*fresh).distinct()))
    empty = variants.freeze(session, settings, issue_id, keys)
    if not empty:
        return 0
    result = session.execute(
        update(Delivery).where(*fresh, Delivery.variant.in_(empty))
        .values(status=D.EMPTY, last_reply=EMPTY_REPLY, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def readers_by_variant(session: Session, issue_id: int) -> dict[str, int]:
    """How many of the issue's recipients each variant went to ("" the whole issue)."""
    return dict(session.execute(
        select(Delivery.variant, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.variant)).all())
