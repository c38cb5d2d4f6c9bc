"""Erasure: a person asks to be forgotten, and is, the same day.

The subscriber row goes, and with it every personal field (address, name, IPs,
user agents, the bounce reason). What stays is one `Erasure` row holding a keyed
hash of the address (HMAC-SHA256 with SECRET_KEY under its own purpose), so a
later import of the same address is flagged and refused, while nobody without
the key can learn who it was. Rotating SECRET_KEY loses that memory: an import
after a rotation can no longer recognise earlier erasures.

Other features keep rows that point at subscribers (delivery's per-issue
ledger); they forget the person first, through `delivery.recipient.erase_person`,
which calls `erase` here last.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..db import insert_for, utcnow
from .models import Erasure, Subscriber

PURPOSE = b"newsletter.erased-address:"
REQUESTERS = ("editor", "subscriber")


def address_hash(secret_key: str, email_key: str) -> str:
    return hmac.new(secret_key.encode(), PURPOSE + email_key.encode(), hashlib.sha256).hexdigest()


def erased_keys(session: Session, secret_key: str, email_keys: Iterable[str]) -> dict[str, datetime]:
    """Which of these (lower-cased) addresses were erased, and when."""
    by_hash = {address_hash(secret_key, key): key for key in email_keys}
    if not by_hash:
        return {}
    rows = session.execute(select(Erasure.email_hash, Erasure.erased_at).where(Erasure.email_hash.in_(by_hash)))
    return {by_hash[row.email_hash]: row.erased_at for row in rows}


def erase(session: Session, secret_key: str, subscriber_id: int, requested_by: str,
          now: datetime | None = None) -> bool:
    """Delete the subscriber and record the erasure; False if there was no one.

    Call it through `delivery.recipient.erase_person`, which first anonymises
    what the delivery ledger holds about them.
    """
    if requested_by not in REQUESTERS:
        raise ValueError(f"requested_by must be one of {REQUESTERS}")
    email_key = session.scalar(select(Subscriber.email_key).where(Subscriber.id == subscriber_id).with_for_update())
    if email_key is None:
        return False
    session.execute(
        insert_for(session)(Erasure)
        .values(email_hash=address_hash(secret_key, email_key), erased_at=now or utcnow(), requested_by=requested_by)
        .on_conflict_do_nothing(index_elements=["email_hash"])
    )
    session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
    session.expire_all()
    return True
