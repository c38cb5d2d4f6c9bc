"""The audience's category sets at the snapshot: each recipient's variant key is
copied from their subscriber by the snapshot itself (`snapshot.step`), each distinct
key's variant is frozen (`readers.variants`), and whoever would get an empty mail is
marked `empty`. With "a welcome counts as already sent" on, a reader's key also
names the comparisons their welcome carried (`readers.welcome_next`).

Runs in the same transaction as each chunk of the snapshot, before any of its rows
can be claimed, so what a recipient gets is decided once. Every set the audience
holds is frozen with the first chunk (`freeze_audience`): a variant that cannot be
rendered pauses the issue before a single row exists.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..audience import recipients
from ..audience.models import Subscriber
from ..config import Settings
from ..db import utcnow
from ..readers import categories, variants, welcome_next
from .models import Delivery
from .models import DeliveryStatus as D

EMPTY_REPLY = "nothing in their categories this time"


def freeze_audience(session: Session, settings: Settings, issue_id: int) -> None:
    """Freeze the variant of every category set the audience holds now; a `RenderError`
    propagates."""
    keys = set(session.scalars(select(Subscriber.categories).where(recipients.receiving()).distinct()))
    variants.freeze(session, settings, issue_id, keys)


def snapshot(session: Session, settings: Settings, issue_id: int, within: tuple[int, int] | None = None) -> int:
    """Freeze the variants of the issue's new rows (the snapshot copied each reader's
    set into their row), those of subscriber ids in (after, through] when `within`
    is given; return how many get nothing."""
    fresh = (Delivery.issue_id == issue_id, Delivery.status == D.PENDING, Delivery.attempts == 0)
    if within is not None:
        fresh += (Delivery.subscriber_id > within[0], Delivery.subscriber_id <= within[1])
    _leave_out_welcomed(session, issue_id, fresh)
    keys = set(session.scalars(select(Delivery.variant).where(*fresh).distinct()))
    empty = variants.freeze(session, settings, issue_id, keys)
    if not empty:
        return 0
    result = session.execute(
        update(Delivery).where(*fresh, Delivery.variant.in_(empty))
        .values(status=D.EMPTY, last_reply=EMPTY_REPLY, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def _leave_out_welcomed(session: Session, issue_id: int, fresh) -> None:
    welcomed = welcome_next.left_out(session, issue_id)
    if not welcomed:
        return
    rows = session.execute(select(Delivery.id, Delivery.subscriber_id, Delivery.variant)
                           .where(*fresh, Delivery.subscriber_id.in_(list(welcomed)))).all()
    for row in rows:
        key = categories.with_left_out(row.variant, welcomed[row.subscriber_id])
        if key != row.variant and len(key) <= categories.MAX_KEY:  # longer: they get their set's issue whole
            session.execute(update(Delivery).where(Delivery.id == row.id).values(variant=key))
    welcome_next.applied(session, issue_id, [row.subscriber_id for row in rows])


def readers_by_variant(session: Session, issue_id: int) -> dict[str, int]:
    """How many of the issue's recipients each variant went to ("" the whole issue)."""
    return dict(session.execute(
        select(Delivery.variant, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.variant)).all())
