"""The worker's side of a send: claim a batch, send it over one connection, record.

Unlike the ledger's services, this takes a `Database` and commits, because its
transactions must be short and separate: the claim is committed before the first
message goes out (so no other worker takes those rows), and outcomes are
committed every FLUSH_EVERY messages (so a worker killed mid-batch re-sends at
most that many once its lease expires). A heartbeat thread renews the lease of
the batch in hand every third of SEND_LEASE_SECONDS, so the lease can be short:
rows stay ours however slow the relay, and a dead worker's rows are due again
within about a minute. One connection is opened and reused for every batch this
run claims. The engine speaks only the transport's verdicts.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..audience.tokens import manage_url, unsubscribe_url
from ..config import Settings
from ..db import Database, utcnow
from ..mail import verp
from ..mail.compose import Composer, MessageTemplate, Recipient
from ..mail.headers import HeaderError
from ..mail.transport import Connection, Outcome, Transport, TransportError, Verdict, transport_for
from ..readers import variants
from . import control, guard, ledger, rate
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
    stopped: str = ""  # why the run ended early: "not sending", "paused", "relay unavailable", "budget", "lease"
    retries: list[datetime] = field(default_factory=list)


def _template(db: Database, settings: Settings, transport: Transport, issue_id: int, variant: str = ""):
    """The issue's composed mail (or its category variant's) in the transport's wire
    form, and its composer (for each copy's envelope sender)."""
    with db.session() as session:
        key = (settings, issue_id, ledger.started_at(session, issue_id))
        if _templates and next(iter(_templates))[:3] != key:
            _templates.clear()  # another issue or another send: one issue's variants at a time
        prepared = _templates.get(key + (variant,))
        if prepared is None:
            mail = variants.frozen(session, issue_id, variant) if variant else ledger.frozen_mail(session, issue_id)
            if mail is None:
                return None
            composer = Composer(settings)
            prepared = _templates[key + (variant,)] = (transport.prepare(composer.compose(mail)), composer)
    return prepared


class _Batch:
    """One claimed batch: outcomes buffered and written in bulk.

    The lease is also the fence that `record` and `release` are guarded by, so its
    renewal (from the heartbeat thread) and every write under it take one lock.
    """

    def __init__(self, db: Database, settings: Settings, claim: ledger.Claim, result: RunResult, issue_id: int):
        self.db, self.settings, self.claim, self.result = db, settings, claim, result
        self.issue_id = issue_id
        self.pending: list[ledger.RowResult] = []
        self.paused = False  # the bounce-rate guard stopped the issue
        self.lock = threading.Lock()
        self.margin = timedelta(seconds=settings.send_lease_seconds / 6)  # renewals come every third

    def renew(self) -> None:
        with self.lock, self.db.session() as session:
            lease = ledger.renew(session, self.settings, self.claim.lease, [r.delivery_id for r in self.claim.rows])
            session.commit()
            if lease is not None:  # else the rows are gone: keep the old lease and let it run out
                self.claim.lease = lease

    def expiring(self) -> bool:
        """Our own clock says the lease is nearly out: the heartbeat could not renew it
        (the database is out of reach) or the rows were taken back, so another worker
        may be sending them now. Sending on would send them twice."""
        return utcnow() >= self.claim.lease - self.margin

    def add(self, row: ledger.Claimed, status: str, reply: str) -> None:
        self.pending.append(ledger.RowResult(row.delivery_id, row.subscriber_id, row.attempts, status, reply))
        setattr(self.result, status, getattr(self.result, status) + 1)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with self.lock, self.db.session() as session:
            retries = ledger.record(session, self.settings, self.claim.lease, self.pending)
            if any(o.status == D.BOUNCED for o in self.pending):
                reason = guard.check(session, self.settings, self.issue_id)
                if reason:
                    self.paused = True
                    log.warning("issue %s %s", self.issue_id, reason)
            session.commit()
        self.result.retries.extend(retries)
        self.pending = []

    def defer_rest(self, rows: list[ledger.Claimed], reply: str) -> None:
        for row in rows:
            self.add(row, D.DEFERRED, reply)
        self.flush()

    def release_rest(self, rows: list[ledger.Claimed]) -> None:
        self.flush()
        with self.lock, self.db.session() as session:
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


class _Heartbeat(threading.Thread):
    """Renews the lease of whichever batch is in hand until stopped."""

    def __init__(self, lease_seconds: float):
        super().__init__(name="lease-heartbeat", daemon=True)
        self.interval = lease_seconds / 3
        self.batch: _Batch | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            batch = self.batch
            if batch is None:
                continue
            try:
                batch.renew()
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease has two more thirds
                log.exception("renewing the lease failed")

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def run(db: Database, settings: Settings, issue_id: int, budget_seconds: float = 30.0) -> RunResult:
    """Send due rows of one issue until none is due or the time budget is spent."""
    result = RunResult()
    deadline = time.monotonic() + budget_seconds
    limiter = rate.limiter(settings)
    transport = transport_for(settings, tally=f"issue-{issue_id}")
    connection: Connection | None = None
    heartbeat = _Heartbeat(settings.send_lease_seconds)
    heartbeat.start()
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
            batch = heartbeat.batch = _Batch(db, settings, claim, result, issue_id)
            if prepared is None:
                batch.release_rest(claim.rows)
                break
            prepared[0].set_date()
            prepared = _variants(db, settings, transport, issue_id, prepared)
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
        heartbeat.stop()
        limiter.close()
        if connection is not None:
            connection.close()
    if result.retries:
        result.retry_at = min(result.retries)
    return result


def _variants(db, settings, transport, issue_id, whole):
    """Per row, the composed mail of its variant; each batch dates each variant once."""
    dated = {"": whole}

    def pick(variant: str):
        if variant not in dated:
            found = _template(db, settings, transport, issue_id, variant)
            if found is None:  # not frozen (cannot happen after the snapshot): the whole issue, not nothing
                log.warning("issue %s: no frozen variant %r", issue_id, variant)
                found = whole
            found[0].set_date()
            dated[variant] = found
        return dated[variant]

    return pick


def _send_batch(settings, issue_id, prepared, connection, limiter, batch: _Batch, deadline: float):
    """Send one claimed batch; return (the connection, or None if it is gone; why it stopped)."""
    base_url, rows = settings.base_url, batch.claim.rows
    for index, row in enumerate(rows):
        if time.monotonic() >= deadline + 30:  # far over budget (slow relay): give the rest back
            batch.release_rest(rows[index:])
            batch.result.more_due = True
            return connection, "budget"
        template, composer = prepared(row.variant)
        url = unsubscribe_url(base_url, row.subscriber_id, row.unsubscribe_token)
        try:
            payload = template.fill(Recipient(row.email, f"issue-{issue_id}.sub-{row.subscriber_id}", url,
                                              manage_url=manage_url(base_url, row.subscriber_id, row.manage_token)))
        except HeaderError as exc:
            batch.add(row, D.FAILED, str(exc))
            continue
        if batch.expiring():
            batch.release_rest(rows[index:])
            batch.result.more_due = True
            return connection, "lease"
        limiter.acquire()
        try:
            outcome = connection.send(composer.envelope_from(verp.ISSUE, row.delivery_id), row.email, payload)
        except TransportError as exc:
            connection.close()
            return None, batch.stop(rows[index:], exc.outcome, issue_id)
        if outcome.verdict == Verdict.STOP:
            return connection, batch.stop(rows[index:], outcome, issue_id)
        batch.add(row, ROW_STATUS[outcome.verdict], outcome.reply)
        if batch.paused:
            batch.release_rest(rows[index + 1:])
            return connection, "paused"
    batch.flush()
    return connection, "paused" if batch.paused else ""
