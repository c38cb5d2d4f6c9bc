"""Exporting the list: CSV with the consent record, streamed row by row.

The rows come through a server-side cursor in chunks (`yield_per`), and each line
is handed on as soon as it is written, so memory stays flat whether the list has
a hundred people or a million. The columns start with the import's own
(`email, name, status, consent_source, consent_at`), so an export imports again.
Every cell is neutralised against spreadsheet formulas (`csvfile.neutralise`).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import csvfile
from .models import Subscriber, SubscriberStatus

CHUNK = 1000
FIELDS = (
    "email", "name", "status", "consent_source", "consent_at", "created_at", "requested_at", "request_ip",
    "request_user_agent", "confirmed_at", "confirm_ip", "confirm_user_agent", "unsubscribed_at", "bounced_at",
    "bounce_reason", "import_id",
)


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def check_status(status: str | None) -> str | None:
    if status and status not in {s.value for s in SubscriberStatus}:
        raise ValueError(f"there is no status {status!r}; use one of {', '.join(s.value for s in SubscriberStatus)}")
    return status or None


def export_lines(session: Session, status: str | None = None) -> Iterator[str]:
    """The CSV, line by line, oldest subscriber first."""
    columns = [getattr(Subscriber, name) for name in FIELDS]
    stmt = select(*columns).order_by(Subscriber.id).execution_options(yield_per=CHUNK)
    if check_status(status):
        stmt = stmt.where(Subscriber.status == status)
    result = session.execute(stmt)
    try:
        yield from csvfile.lines(FIELDS, ([_cell(value) for value in row] for row in result))
    finally:
        result.close()


def personal_record(subscriber: Subscriber) -> dict:
    """Everything the audience holds about one person, for their own download."""
    record = {name: _cell(getattr(subscriber, name)) for name in FIELDS}
    record.update(id=subscriber.id, updated_at=_cell(subscriber.updated_at),
                  confirm_mail_sent_at=_cell(subscriber.confirm_mail_sent_at))
    return record
