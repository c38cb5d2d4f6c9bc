"""The worker's side of a send: claim a batch, send it over one connection, record.

Unlike the ledger's services, this takes a `Database` and commits, because its
transactions must be short and separate: the claim is committed before the first
message goes out (so no other worker takes those rows), and outcomes are
committed every FLUSH_EVERY messages (so a worker killed mid-batch re-sends at
most that many once its lease expires). One connection is opened and reused for
every batch this run claims. The engine speaks only the transport's verdicts.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from ..audience.tokens import unsubscribe_url
from ..config import Settings
from ..db import Database
from ..mail.compose import Composer, MessageTemplate, Recipient
from ..mail.headers import HeaderError
from ..mail.transport import Connection, Outcome, Transport, TransportError, Verdict, transport_for
from . import control, ledger, rate
from .models import DeliveryStatus as D

log = logging.getLogger(__name__)

FLUSH_EVERY = 50  # outcomes per commit: the most a SIGKILL can make us send twice
ROW_STATUS = {Verdict.ACCEPTED: D.SENT, Verdict.RETRY: D.DEFERRED, Verdict.BOUNCE: D.BOUNCED, Verdict.REJECT: D.FAILED}
# Per process. Frozen content never changes once sending starts, but an id alone is
# not an identity: a restored or re-created database reuses ids, so the key also
# holds the settings and the moment sending started.
_templates: dict[tuple, tuple[MessageTemplate, str]] = {}


@dataclass
class RunResult:
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    more_due: bool = False  # stopped with due rows left: continue at once
    retry_at: datetime | None = None  # earliest time deferred rows are due
    stopped: str = ""  # why the run ended early: "not sending", "paused", "relay unavailable", "budget"
    retries: list[datetime] = field(default_factory=list)


def _template(db: Database, settings: Settings, transport: Transport, issue_id: int):
    """The issue's composed mail in the transport's wire form, and its envelope sender."""
    with db.session() as session:
        key = (settings, issue_id, ledger.started_at(session, issue_id))
        prepared = _templates.get(key)
        if prepared is None:
            mail = ledger.frozen_mail(session, issue_id)
            if mail is None:
                return None
            composer = Composer(settings)
            _templates.clear()
            prepared = _templates[key] = (transport.prepare(composer.compose(mail)), composer.from_address)
    return prepared


class _Batch:
    """One claimed batch: outcomes buffered and written in bulk."""

    def __init__(self, db: Database, settings: Settings, claim: ledger.Claim, result: RunResult):
        self.db, self.settings, self.claim, self.result = db, settings, claim, result
        self.pending: list[ledger.RowResult] = []

    def add(self, row: ledger.Claimed, status: str, reply: str) -> None:
        self.pending.append(ledger.RowResult(row.delivery_id, row.subscriber_id, row.attempts, status, reply))
        setattr(self.result, status, getattr(self.result, status) + 1)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.db.session() as session:
            retries = ledger.record(session, self.settings, self.claim.lease, self.pending)
            session.commit()
        self.result.retries.extend(retries)
        self.pending = []

    def defer_rest(self, rows: list[ledger.Claimed], reply: str) -> None:
        for row in rows:
            self.add(row, D.DEFERRED, reply)
        self.flush()

    def release_rest(self, rows: list[ledger.Claimed]) -> None:
        self.flush()
        with self.db.session() as session:
            ledger.release(session, self.claim.lease, [r.delivery_id for r in rows])
            session.commit()

    def stop(self, rows: list[ledger.Claimed], outcome: Outcome, issue_id: int) -> str:
        """The relay refuses us (STOP): hand the rows back untried and pause the issue;
        anything else that ends the connection defers them. Returns why the run stops."""
        if outcome.verdict == Verdict.STOP:
            self.release_rest(rows)
            with self.db.session() as session:
                control.pause(session, issue_id, f"the relay refused to send: {outcome.reply}")
                session.commit()
            log.warning("issue %s paused: %s", issue_id, outcome.reply)
            return "paused"
        self.defer_rest(rows, outcome.reply)
        return "relay unavailable"


def run(db: Database, settings: Settings, issue_id: int, budget_seconds: float = 30.0) -> RunResult:
    """Send due rows of one issue until none is due or the time budget is spent."""
    result = RunResult()
    deadline = time.monotonic() + budget_seconds
    limiter = rate.limiter(settings)
    transport = transport_for(settings)
    connection: Connection | None = None
    try:
        while True:
            with db.session() as session:
                claim = ledger.claim(session, settings, issue_id)
                session.commit()
            if claim is None:
                result.stopped = "not sending"
                break
            result.skipped += claim.skipped
            if not claim.rows:
                if claim.skipped:
                    continue
                break
            prepared = _template(db, settings, transport, issue_id)
            batch = _Batch(db, settings, claim, result)
            if prepared is None:
                batch.release_rest(claim.rows)
                break
            prepared[0].set_date()
            if connection is not None and not connection.alive():  # dropped while we were claiming
                connection.close()
                connection = None
            if connection is None:
                try:
                    connection = transport.connect()
                except TransportError as exc:
                    result.stopped = batch.stop(claim.rows, exc.outcome, issue_id)
                    break
            connection, stop = _send_batch(settings, issue_id, prepared, connection, limiter, batch, deadline)
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
        if connection is not None:
            connection.close()
    if result.retries:
        result.retry_at = min(result.retries)
    return result


def _send_batch(settings, issue_id, prepared, connection, limiter, batch: _Batch, deadline: float):
    """Send one claimed batch; return (the connection, or None if it is gone; why it stopped)."""
    template, envelope_from = prepared
    base_url, rows = settings.base_url, batch.claim.rows
    for index, row in enumerate(rows):
        if time.monotonic() >= deadline + 30:  # far over budget (slow relay): give the rest back
            batch.release_rest(rows[index:])
            batch.result.more_due = True
            return connection, "budget"
        url = unsubscribe_url(base_url, row.subscriber_id, row.unsubscribe_token)
        try:
            payload = template.fill(Recipient(row.email, f"issue-{issue_id}.sub-{row.subscriber_id}", url))
        except HeaderError as exc:
            batch.add(row, D.FAILED, str(exc))
            continue
        limiter.acquire()
        try:
            outcome = connection.send(envelope_from, row.email, payload)
        except TransportError as exc:
            connection.close()
            return None, batch.stop(rows[index:], exc.outcome, issue_id)
        if outcome.verdict == Verdict.STOP:
            return connection, batch.stop(rows[index:], outcome, issue_id)
        batch.add(row, ROW_STATUS[outcome.verdict], outcome.reply)
    batch.flush()
    return connection, ""
