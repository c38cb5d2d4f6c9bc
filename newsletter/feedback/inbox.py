"""The feedback inbox: every way in stores what it verified here, and a worker applies it.

A bounce mail or a webhook is answered as soon as it is stored: one INSERT and a
commit, so the SMTP sender's server gets its 250 and the provider its 200 at the
speed of the disk, not of the policy. Whatever happens next (a worker killed, the
policy raising on a mail nobody foresaw), the entry is still here: it is deleted
only in the transaction that applied it, and it is tried again up to MAX_ATTEMPTS
before it is left, with its error, for an editor. Applying in sets of up to
APPLY_BATCH lets the policy work with a handful of statements per set.

The relay in the scheduler (`workers.feedback`) sees waiting entries and hands
`apply_feedback` to a worker; the database, not that hint, says what is waiting.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..config import Settings
from ..mail.verp import Verp
from . import inbound, parsers
from .models import Disposition, InboxEntry
from .policy import Event, apply_many

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
APPLY_BATCH = 500


@dataclass(frozen=True)
class Mail:
    source: str
    raw: bytes
    addresses: list[str]  # the verified VERP addresses it was sent to


def put_mails(session: Session, mails: list[Mail]) -> None:
    """Store received mails, in one statement; never commits."""
    if mails:
        session.connection().execute(insert(InboxEntry.__table__), [
            {"source": m.source, "mail": m.raw, "addresses": "\n".join(m.addresses), "events": ""} for m in mails])


def put_events(db: Session | Connection, events: list[Event]) -> None:
    """Store one webhook request's verified, parsed events (one provider's) in one
    statement; never commits. A connection in autocommit (`Database.autocommit`) makes
    the statement its own transaction."""
    if events:
        connection = db.connection() if isinstance(db, Session) else db
        connection.execute(insert(InboxEntry.__table__), [
            {"source": events[0].source, "mail": b"", "addresses": "",
             "events": json.dumps([_dumped(e) for e in events])}])


def waiting(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(InboxEntry.attempts < MAX_ATTEMPTS))))


def backlog(session: Session) -> int:
    """Entries not applied yet: a worker is on them, or no worker runs."""
    return session.scalar(select(func.count()).where(InboxEntry.attempts < MAX_ATTEMPTS)) or 0


def stuck(session: Session, limit: int = 50) -> list:
    """The latest entries that failed every attempt, left for an editor: (id, source, error, received_at)."""
    return list(session.execute(
        select(InboxEntry.id, InboxEntry.source, InboxEntry.error, InboxEntry.received_at)
        .where(InboxEntry.attempts >= MAX_ATTEMPTS).order_by(InboxEntry.id.desc()).limit(limit)
    ).all())


@dataclass(frozen=True)
class Drained:
    applied: int  # entries applied and deleted
    failed: int  # entries whose attempt failed (kept, their error recorded)


def apply_waiting(session: Session, settings: Settings, limit: int = APPLY_BATCH) -> Drained:
    """Apply up to `limit` waiting entries, oldest first, skipping those another worker
    holds; never commits. A set that fails is tried entry by entry, so one bad entry
    costs only itself an attempt."""
    rows = session.execute(
        select(InboxEntry.id, InboxEntry.source, InboxEntry.mail, InboxEntry.addresses, InboxEntry.events)
        .where(InboxEntry.attempts < MAX_ATTEMPTS).order_by(InboxEntry.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return Drained(0, 0)
    verp = Verp(settings.secret_key, settings.bounce_domain) if settings.bounce_domain else None
    try:
        with session.begin_nested():
            _apply(session, settings, verp, rows)
        return Drained(len(rows), 0)
    except Exception:  # noqa: BLE001 - which entry failed is found below, one at a time
        log.warning("applying %d feedback entries failed; trying them one by one", len(rows), exc_info=True)
    failed = 0
    for row in rows:
        try:
            with session.begin_nested():
                _apply(session, settings, verp, [row])
        except Exception as exc:  # noqa: BLE001 - kept with its error; tried again, then left
            failed += 1
            log.exception("feedback entry %s (%s) could not be applied", row.id, row.source)
            session.execute(update(InboxEntry).where(InboxEntry.id == row.id).values(
                attempts=InboxEntry.attempts + 1, error=parsers.clean(f"{type(exc).__name__}: {exc}", 500)))
    return Drained(len(rows) - failed, failed)


def _apply(session: Session, settings: Settings, verp: Verp | None, rows) -> None:
    mails, events = [], []
    for row in rows:
        if row.events:
            events += [_loaded(item) for item in json.loads(row.events)]
            continue
        addresses = [(text, address) for text in row.addresses.split("\n") if text
                     for address in [verp.parse(text) if verp else None] if address is not None]
        if addresses:
            mails.append((row.source, row.mail, addresses))
        else:  # the key or the domain changed since it was received: nobody to tie it to
            inbound.keep(session, row.source, Disposition.UNPARSED, row.mail[:inbound.KEEP_BYTES], row.addresses,
                         "its address no longer verifies (SECRET_KEY or BOUNCE_DOMAIN changed)")
    inbound.ingest_many(session, settings, mails)
    apply_many(session, settings, events)
    session.execute(delete(InboxEntry).where(InboxEntry.id.in_([row.id for row in rows])))


def _dumped(event: Event) -> dict:
    # vars(), not asdict(): the fields are plain values, and asdict's deep copy was a
    # tenth of a webhook request's time.
    fields = dict(vars(event))
    fields["occurred_at"] = event.occurred_at.isoformat() if event.occurred_at else None
    return fields


def _loaded(fields: dict) -> Event:
    when = fields.get("occurred_at")
    return Event(**{**fields, "occurred_at": datetime.fromisoformat(when) if when else None})
