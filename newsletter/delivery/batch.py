"""One claimed batch in a worker's hands: its outcomes, buffered and written in bulk
under the claim's lease, and the heartbeat thread that renews that lease (and the
group's connection slot) while it is in hand; the next batch, claimed ahead while
this one sends (`Ahead`). The run's tallies are a `RunResult`.

Outcomes are written behind the sending: every WRITE_EVERY outcomes go to a writer
thread (one write in flight at a time) while the next copies go out, so the
database's round trips overlap the relay's instead of adding to them. One write in
flight and one filling keep FLUSH_EVERY the most outcomes not yet written. A write
of accepted copies alone, the usual one, is a single statement outside any
transaction on PostgreSQL (`ledger.record_accepted`): a write is the worker's
costliest step after the socket, and its CPU is taken from the relay's and the
database's.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from ..config import Settings
from ..db import Database, utcnow
from ..mail.transport import Outcome, Verdict
from . import control, guard, ledger
from .models import DeliveryStatus as D

log = logging.getLogger(__name__)

FLUSH_EVERY = 50  # outcomes not yet written at most: the most a SIGKILL can make us send twice
WRITE_EVERY = FLUSH_EVERY // 2  # outcomes per write behind the sending


@dataclass
class RunResult:
    sent: int = 0
    deferred: int = 0
    bounced: int = 0
    failed: int = 0
    skipped: int = 0
    throttled: int = 0  # tries the receiving side deferred to slow us down (no attempt spent)
    more_due: bool = False  # stopped with due rows left: continue at once
    retry_at: datetime | None = None  # earliest time deferred rows are due
    # Why the run ended early: "not sending", "paused", "relay unavailable", "budget", "lease", or
    # "paced" (every group with due rows must wait `paced_for` seconds).
    stopped: str = ""
    paced_for: float = 0.0
    retries: list[datetime] = field(default_factory=list)


class Batch:
    """One claimed batch: outcomes buffered and written in bulk.

    The lease is also the fence that `record` and `release` are guarded by, so its
    renewal (from the heartbeat thread) and every write under it take one lock.
    """

    def __init__(self, db: Database, settings: Settings, claim: ledger.Claim, result: RunResult, issue_id: int,
                 on_renew: Callable[[], object] | None = None, writer: ThreadPoolExecutor | None = None):
        self.db, self.settings, self.claim, self.result = db, settings, claim, result
        self.writer = writer  # None: every write in the caller's thread
        self.writing: Future | None = None
        self.issue_id = issue_id
        self.on_renew = on_renew  # keeps the group's connection slot as long as the lease
        self.accepted = 0
        self.pending: list[ledger.RowResult] = []
        self.paused = False  # the bounce-rate guard stopped the issue
        self.lock = threading.Lock()
        self.margin = timedelta(seconds=settings.send_lease_seconds / 6)  # renewals come every third

    def renew(self) -> None:
        with self.lock, self.db.session() as session:
            lease = ledger.renew(session, self.settings, self.claim.lease, [r.delivery_id for r in self.claim.rows])
            session.commit()
            if lease is None:  # the rows are gone: keep the old lease and let it run out
                return
            self.claim.lease = lease
        if self.on_renew is not None:
            self.on_renew()

    def refresh(self) -> None:
        """Renew now a lease the heartbeat's next beat might come too late for (a claim
        taken ahead while a slow batch went out): beats come every two margins."""
        if utcnow() >= self.claim.lease - 3 * self.margin:
            self.renew()

    def expiring(self) -> bool:
        """Our own clock says the lease is nearly out: the heartbeat could not renew it
        (the database is out of reach) or the rows were taken back, so another worker
        may be sending them now. Sending on would send them twice."""
        return utcnow() >= self.claim.lease - self.margin

    def add(self, row: ledger.Claimed, status: str, reply: str, retry_in: float = 0.0) -> None:
        self.pending.append(ledger.RowResult(row.delivery_id, row.subscriber_id, row.attempts, status, reply,
                                             retry_in))
        setattr(self.result, status, getattr(self.result, status) + 1)
        self.accepted += status == D.SENT
        if len(self.pending) >= WRITE_EVERY:
            self.wait()  # one write in flight at a time
            outcomes, self.pending = self.pending, []
            if self.writer is None:
                self._write(outcomes)
            else:
                self.writing = self.writer.submit(self._write, outcomes)

    def wait(self) -> None:
        """Until the write in flight is done; raises what it raised."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    def settle(self) -> None:
        """`wait`, for a batch being abandoned on another error: a failed write is logged."""
        try:
            self.wait()
        except Exception:  # noqa: BLE001 - the error in hand is the one to raise; the lease runs out
            log.exception("writing a batch's outcomes failed")

    def flush(self) -> None:
        self.wait()
        if self.pending:
            outcomes, self.pending = self.pending, []
            self._write(outcomes)

    def _write(self, outcomes: list[ledger.RowResult]) -> None:
        if self.db.is_postgresql and ledger.accepted_alone(outcomes):  # the usual write: one round trip
            with self.lock, self.db.autocommit() as connection:
                ledger.record_accepted(connection, self.claim.lease, outcomes)
            return
        with self.lock, self.db.session() as session:
            retries = ledger.record(session, self.settings, self.claim.lease, outcomes)
            if any(o.status == D.BOUNCED for o in outcomes):
                reason = guard.check(session, self.settings, self.issue_id)
                if reason:
                    self.paused = True
                    log.warning("issue %s %s", self.issue_id, reason)
            session.commit()
        self.result.retries.extend(retries)

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


class Heartbeat(threading.Thread):
    """Renews the lease of whichever batch is in hand until stopped."""

    def __init__(self, lease_seconds: float):
        super().__init__(name="lease-heartbeat", daemon=True)
        self.interval = lease_seconds / 3
        self.batch: Batch | None = None
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


class Ahead:
    """The group's next batch, claimed by a thread of its own while this one sends, so
    the claim's round trips overlap the relay's instead of coming between batches.

    Only for a group alone in its run (no other group has rows due: taking its next
    turn now skips nobody's). The rows are ours under a lease from the moment they are
    claimed, so a run that ends or a group that must rest (`drop`) hands them back;
    a killed worker's come back when the lease runs out, like any claim's.
    """

    def __init__(self, claimer: ThreadPoolExecutor, db: Database, settings: Settings, issue_id: int, pacer,
                 group: str, successes: int, refund: int):
        self.db, self.pacer, self.group = db, pacer, group
        self.unused = 0
        self.future = claimer.submit(self._claim, settings, issue_id, successes, refund)

    def _claim(self, settings: Settings, issue_id: int, successes: int, refund: int):
        granted, _ = self.pacer.take(self.group, settings.send_batch_size, successes, refund)
        if not granted:
            return 0, None
        with self.db.session() as session:
            claim = ledger.claim(session, settings, issue_id, group=self.group, limit=granted)
            session.commit()
        return granted, claim

    def adopt(self) -> tuple[int, ledger.Claim | None] | None:
        """(granted, the claim: None if the issue stopped sending) with the group's
        connection slot held again, as a claim in turn would be; None if there is
        nothing to take over (the rows, if any, went back)."""
        granted, claim = self.future.result()
        if granted and self.pacer.hold(self.group):
            return granted, claim
        self._give_back(claim)
        self.unused = granted  # the pacer's grant, given back at the group's next take
        return None

    def drop(self) -> None:
        """Hand the claimed rows back untried, and the pacer's grant with them (in
        `unused`): a warm-up day must not count copies never sent. Never raises (the
        run is ending, or the group resting, anyway)."""
        try:
            granted, claim = self.future.result()
            self.unused = granted
            self._give_back(claim)
        except Exception:  # noqa: BLE001 - the lease runs out and the rows are due again
            log.exception("handing back a batch claimed ahead failed")

    def _give_back(self, claim: ledger.Claim | None) -> None:
        if claim is not None and claim.rows:
            with self.db.session() as session:
                ledger.release(session, claim.lease, [r.delivery_id for r in claim.rows])
                session.commit()
