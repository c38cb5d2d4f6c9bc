"""Importing a list: every row checked like a subscribe, merged, never resurrected.

`check()` reads the whole file first (`csvfile`) and validates every row with the
same rules as the subscribe form (`addresses`), so a bad row is reported with its
line and reason before anything is stored, and a file that cannot be read stores
nothing at all. `apply()` then writes the good rows in batches of `BATCH`, a few
statements per batch; the caller commits after each, which is what the progress
bar and the upload page's progress show.

Who becomes what:

- a new address becomes `confirmed` only when the importer stated that the
  people opted in (`consent`: where, recorded per row with the time from the
  file or the import); otherwise it is `pending`, and the confirmation mail is
  due through the normal outbox, which the sweeper sends at its pace;
- a row whose status says not to mail them (`unsubscribed`, `bounced`, any
  state outside `pending`/`confirmed`) is stored so, and applied to a known
  address that would still be mailed: an import can only ever stop mail;
- a known address is merged (its empty name filled in), never duplicated, and
  never brought back from a state that stops mail;
- an erased address is refused, flagged in the report.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from . import bulk, csvfile, erasure, tokens
from .addresses import InvalidSubscription, clean_name, normalise_email
from .models import ImportStatus, Subscriber, SubscriberImport, SubscriberStatus

BATCH = 2000
MAX_REPORT_LINES = 500
MAX_SOURCE = 500
WANTS_MAIL = (SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED)
_s = Subscriber.__table__


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    key: str
    name: str
    status: str  # "" when the file did not say
    consent_source: str
    consent_at: datetime | None


@dataclass
class Checked:
    rows: list[Row]
    problems: list[tuple[int, str]] = field(default_factory=list)
    duplicates: int = 0
    ignored_columns: tuple[str, ...] = ()


@dataclass
class Tally:
    created: int = 0
    merged: int = 0
    rejected: int = 0
    confirmations: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


def _text(raw: str, label: str, limit: int) -> str:
    value = raw.strip()
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise InvalidSubscription(label, f"{label} contains line breaks or control characters")
    if len(value) > limit:
        raise InvalidSubscription(label, f"{label} is longer than {limit} characters")
    return value


def _moment(raw: str, now: datetime) -> datetime | None:
    value = raw.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSubscription("consent_at", f"consent_at {value[:40]!r} is not a date (use 2025-03-31 "
                                                "or 2025-03-31T09:00:00Z)") from None
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if moment > now:
        raise InvalidSubscription("consent_at", "consent_at is in the future")
    return moment


def _status(raw: str) -> str:
    value = raw.strip().lower()
    if value and value not in {status.value for status in SubscriberStatus}:
        raise InvalidSubscription("status", f"status {raw.strip()[:40]!r} is not one of "
                                            f"{', '.join(s.value for s in SubscriberStatus)}")
    return value


def check(data: bytes, now: datetime | None = None) -> Checked:
    """Every row of the file checked; raises `csvfile.FileRejected` for an unreadable file."""
    now = now or utcnow()
    parsed = csvfile.read(data)
    checked = Checked(rows=[], ignored_columns=parsed.ignored)
    first_line: dict[str, int] = {}
    for raw in parsed.rows:
        values = raw.values
        try:
            if raw.extra_fields:
                raise InvalidSubscription("row", f"{raw.extra_fields} more fields than the header has "
                                                 "(a comma in a name needs quotes)")
            email, key = normalise_email(values.get("email", ""))
            row = Row(raw.line, email, key, clean_name(values.get("name", "")), _status(values.get("status", "")),
                      _text(values.get("consent_source", ""), "consent_source", MAX_SOURCE),
                      _moment(values.get("consent_at", ""), now))
        except InvalidSubscription as exc:
            checked.problems.append((raw.line, str(exc)))
            continue
        if key in first_line:
            checked.duplicates += 1
            checked.problems.append((raw.line, f"the same address as line {first_line[key]}, which is kept"))
            continue
        first_line[key] = raw.line
        checked.rows.append(row)
    return checked


def batches(rows: list[Row], size: int = BATCH) -> Iterator[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _new(row: Row, record: SubscriberImport, now: datetime) -> dict:
    values = dict(email=row.email, email_key=row.key, name=row.name, import_id=record.id, requested_at=now,
                  created_at=now, updated_at=now, unsubscribe_token=tokens.new_unsubscribe_token(),
                  manage_token=tokens.new_manage_token(), consent_source="", consent_at=None, confirm_nonce="",
                  confirmed_at=None, confirm_mail_requested_at=None, unsubscribed_at=None, bounced_at=None,
                  bounce_reason="", request_ip="", request_user_agent="", confirm_ip="", confirm_user_agent="",
                  confirm_mail_sent_at=None, confirm_mail_attempts=0, confirm_mail_retry_at=None)
    if row.status and row.status not in WANTS_MAIL:
        values.update(status=row.status)
        if row.status == SubscriberStatus.UNSUBSCRIBED:
            values.update(unsubscribed_at=now)
        elif row.status == SubscriberStatus.BOUNCED:
            values.update(bounced_at=now, bounce_reason="imported as bounced")
    elif record.consent_source and row.status != SubscriberStatus.PENDING:
        values.update(status=SubscriberStatus.CONFIRMED, confirmed_at=now, consent_at=row.consent_at or now,
                      consent_source=row.consent_source or record.consent_source)
    else:
        values.update(status=SubscriberStatus.PENDING, confirm_nonce=tokens.new_nonce(),
                      confirm_mail_requested_at=now, consent_source=row.consent_source, consent_at=row.consent_at)
    return values


def apply(session: Session, secret_key: str, record: SubscriberImport, rows: list[Row],
          now: datetime | None = None) -> Tally:
    """Store one batch of checked rows (see the module's rules); the caller commits."""
    now = now or utcnow()
    tally = Tally()
    erased = erasure.erased_keys(session, secret_key, [row.key for row in rows])
    rows_left = []
    for row in rows:
        if row.key in erased:
            tally.rejected += 1
            tally.problems.append((row.line, f"this address was erased on {erased[row.key]:%Y-%m-%d} at the "
                                             "person's request; not imported"))
        else:
            rows_left.append(row)
    known = {
        r.email_key: r for r in session.execute(
            select(_s.c.id, _s.c.email_key, _s.c.status, _s.c.name).where(_s.c.email_key.in_([r.key for r in rows_left]))
        )
    }
    fresh = [_new(row, record, now) for row in rows_left if row.key not in known]
    if fresh:
        inserted = bulk.insert_new(session, fresh)
        tally.created = len(inserted)
        tally.confirmations = sum(1 for _, status in inserted if status == SubscriberStatus.PENDING)
        tally.merged += len(fresh) - len(inserted)  # subscribed through the form meanwhile
    _merge(session, record, [row for row in rows_left if row.key in known], known, tally, now)
    return tally


def _merge(session: Session, record: SubscriberImport, rows: list[Row], known: dict, tally: Tally,
           now: datetime) -> None:
    stop, confirm, names = [], [], []
    for row in rows:
        current = known[row.key]
        tally.merged += 1
        if row.name and not current.name:
            names.append({"b_id": current.id, "b_name": row.name})
        if row.status and row.status not in WANTS_MAIL and current.status in WANTS_MAIL:
            stop.append({"b_id": current.id, "b_status": row.status})
        elif (current.status == SubscriberStatus.PENDING and record.consent_source
              and row.status != SubscriberStatus.PENDING):
            confirm.append({"b_id": current.id, "b_source": row.consent_source or record.consent_source,
                            "b_at": row.consent_at or now})
        elif current.status not in WANTS_MAIL and row.status in ("", *WANTS_MAIL):
            tally.problems.append((row.line, f"already {current.status} here; left so"))
    conn = session.connection()
    by_id = _s.c.id == bindparam("b_id")
    if names:
        conn.execute(update(_s).where(by_id, _s.c.name == "").values(name=bindparam("b_name"), updated_at=now), names)
    if stop:
        # executemany takes no IN list: one comparison per state instead
        conn.execute(update(_s).where(by_id, or_(*(_s.c.status == status for status in WANTS_MAIL))).values(
            status=bindparam("b_status"), confirm_nonce="", updated_at=now), stop)
    if confirm:
        conn.execute(update(_s).where(by_id, _s.c.status == SubscriberStatus.PENDING).values(
            status=SubscriberStatus.CONFIRMED, confirmed_at=now, confirm_nonce="", consent_source=bindparam("b_source"),
            consent_at=bindparam("b_at"), import_id=record.id, updated_at=now), confirm)


def begin(record: SubscriberImport, checked: Checked) -> None:
    """Count what `check` found into the import's record, before any row is stored."""
    record.status = ImportStatus.RUNNING
    record.total_rows = len(checked.rows) + len(checked.problems)
    record.done_rows = len(checked.problems)
    record.duplicates = checked.duplicates
    record.rejected = len(checked.problems) - checked.duplicates
    record.report = ""
    if checked.ignored_columns:
        record.report = "columns not imported: " + ", ".join(c[:40] for c in checked.ignored_columns)
    add_problems(record, checked.problems)


def process(session: Session, secret_key: str, record: SubscriberImport,
            after_batch: Callable[[int], None] = lambda rows: None) -> None:
    """Import an uploaded file held in its record: check it, then run it; a file
    that cannot be read fails the import with the reason, storing no row."""
    try:
        checked = check(record.data or b"")
    except csvfile.FileRejected as exc:
        record.status, record.report, record.finished_at, record.data = ImportStatus.FAILED, str(exc), utcnow(), None
        return
    begin(record, checked)
    after_batch(0)
    run(session, secret_key, record, checked, after_batch)


def run(session: Session, secret_key: str, record: SubscriberImport, checked: Checked,
        after_batch: Callable[[int], None] = lambda rows: None, now: datetime | None = None) -> None:
    """Apply every batch; `after_batch(rows)` is where the caller commits and shows progress."""
    for batch in batches(checked.rows):
        tally = apply(session, secret_key, record, batch, now)
        add_to_record(record, tally, len(batch))
        after_batch(len(batch))
    record.status = ImportStatus.DONE
    record.finished_at = utcnow()
    record.data = None


def add_to_record(record: SubscriberImport, tally: Tally, rows_done: int) -> None:
    """Count a batch into the import's record, and its report lines (the first few hundred)."""
    record.done_rows += rows_done
    record.created += tally.created
    record.merged += tally.merged
    record.rejected += tally.rejected
    add_problems(record, tally.problems)


def add_problems(record: SubscriberImport, problems: list[tuple[int, str]]) -> None:
    lines = record.report.splitlines() if record.report else []
    room = MAX_REPORT_LINES - len(lines)
    lines += [f"line {line}: {reason}" for line, reason in problems[:max(room, 0)]]
    record.report = "\n".join(lines)
