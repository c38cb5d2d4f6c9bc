"""The worker's side of a send: claim a batch, send it over one connection, record.

Unlike the services in `sending`, this takes a `Database` and commits, because
its transactions must be short and separate: the claim is committed before the
first message goes out (so no other worker takes those rows), and outcomes are
committed every FLUSH_EVERY messages (so a worker killed mid-batch re-sends at
most that many once its lease expires). The SMTP connection is opened once and
reused for every batch this run claims.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from . import mailer, send_control, send_rate, sending
from .config import Settings
from .db import Database
from .models import DeliveryStatus as D
from .models import Issue
from .outbound import InvalidRecipient, IssueMessage

log = logging.getLogger(__name__)

FLUSH_EVERY = 50  # outcomes per commit: the most a SIGKILL can make us send twice
# Per process. Frozen content never changes once sending starts, but an id alone is
# not an identity: a restored or re-created database reuses ids, so the key also
# holds the settings and the moment sending started.
_templates: dict[tuple, IssueMessage] = {}


@dataclass
class RunResult:
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    more_due: bool = False  # stopped with due rows left: continue at once
    retry_at: datetime | None = None  # earliest time deferred rows are due
    stopped: str = ""  # why the run ended early: "not sending", "paused", "relay unavailable"
    retries: list[datetime] = field(default_factory=list)


def _template(db: Database, settings: Settings, issue_id: int) -> IssueMessage | None:
    with db.session() as session:
        started = session.scalar(select(Issue.sending_started_at).where(Issue.id == issue_id))
        key = (settings, issue_id, started)
        message = _templates.get(key)
        if message is None:
            content = sending.issue_content(session, issue_id)
            if content is None:
                return None
            _templates.clear()
            message = _templates[key] = IssueMessage(settings, content)
    return message


class _Batch:
    """One claimed batch: outcomes buffered and written in bulk."""

    def __init__(self, db: Database, settings: Settings, claim: sending.Claim, result: RunResult):
        self.db, self.settings, self.claim, self.result = db, settings, claim, result
        self.pending: list[sending.Outcome] = []
        self.done = 0

    def add(self, row: sending.Claimed, status: str, reply: str) -> None:
        self.pending.append(sending.Outcome(row.delivery_id, row.subscriber_id, row.attempts, status, reply))
        setattr(self.result, status, getattr(self.result, status) + 1)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.db.session() as session:
            retries = sending.record(session, self.settings, self.claim.lease, self.pending)
            session.commit()
        self.result.retries.extend(retries)
        self.done += len(self.pending)
        self.pending = []

    def defer_rest(self, rows: list[sending.Claimed], reply: str) -> None:
        for row in rows:
            self.add(row, D.DEFERRED, reply)
        self.flush()

    def release_rest(self, rows: list[sending.Claimed]) -> None:
        self.flush()
        with self.db.session() as session:
            sending.release(session, self.claim.lease, [r.delivery_id for r in rows])
            session.commit()


def _pause(db: Database, issue_id: int, reason: str) -> None:
    with db.session() as session:
        send_control.pause(session, issue_id, reason)
        session.commit()
    log.warning("issue %s paused: %s", issue_id, reason)


def run(db: Database, settings: Settings, issue_id: int, budget_seconds: float = 30.0) -> RunResult:
    """Send due rows of one issue until none is due or the time budget is spent."""
    result = RunResult()
    deadline = time.monotonic() + budget_seconds
    limiter = send_rate.limiter(settings)
    sender: mailer.BulkSender | None = None
    try:
        while True:
            with db.session() as session:
                claim = sending.claim(session, settings, issue_id)
                session.commit()
            if claim is None:
                result.stopped = "not sending"
                break
            result.skipped += claim.skipped
            if not claim.rows:
                if claim.skipped:
                    continue
                break
            message = _template(db, settings, issue_id)
            batch = _Batch(db, settings, claim, result)
            if message is None:
                batch.release_rest(claim.rows)
                break
            message.set_date()
            if sender is not None and not sender.alive():  # dropped while we were claiming
                sender.close()
                sender = None
            if sender is None:
                try:
                    sender = mailer.open_bulk(settings)
                except mailer.RelayRefused as exc:
                    batch.release_rest(claim.rows)
                    _pause(db, issue_id, exc.reply)
                    result.stopped = "paused"
                    break
                except mailer.RelayUnavailable as exc:
                    batch.defer_rest(claim.rows, str(exc))
                    result.stopped = "relay unavailable"
                    break
            sender, stop = _send_batch(db, issue_id, message, sender, limiter, batch, deadline)
            if stop:
                result.stopped = stop
                break
            if len(claim.rows) + claim.skipped < settings.send_batch_size:
                break  # that was the last of what is due now
            if time.monotonic() >= deadline:
                result.more_due = True
                break
    finally:
        limiter.close()
        if sender is not None:
            sender.close()
    if result.retries:
        result.retry_at = min(result.retries)
    return result


def _send_batch(db, issue_id, message, sender, limiter, batch: _Batch, deadline: float):
    """Send one claimed batch; return (the connection or None if lost, stop reason)."""
    rows = batch.claim.rows
    for index, row in enumerate(rows):
        if time.monotonic() >= deadline + 30:  # far over budget (slow relay): give the rest back
            batch.release_rest(rows[index:])
            batch.result.more_due = True
            return sender, "budget"
        try:
            payload = message.render(row.subscriber_id, row.email, row.unsubscribe_token)
        except InvalidRecipient as exc:
            batch.add(row, D.FAILED, str(exc))
            continue
        limiter.acquire()
        try:
            outcome = sender.send(row.email, payload)
        except mailer.RelayUnavailable as exc:
            sender.close()
            batch.defer_rest(rows[index:], str(exc))
            return None, "relay unavailable"
        if outcome.accepted:
            batch.add(row, D.SENT, outcome.reply)
        elif outcome.stage == "mail" and outcome.code >= 500:
            batch.release_rest(rows[index:])
            _pause(db, issue_id, f"MAIL FROM refused: {outcome.reply}")
            return sender, "paused"
        elif 400 <= outcome.code < 500 or outcome.stage == "mail":
            batch.add(row, D.DEFERRED, outcome.reply)
        elif outcome.stage == "rcpt":
            batch.add(row, D.BOUNCED, outcome.reply)
        else:  # the relay refused the message itself (5xx after DATA): not the address
            batch.add(row, D.FAILED, outcome.reply)
    batch.flush()
    return sender, ""
