"""One claimed batch over one connection, each copy made ready one ahead of the copy
in flight, so that its envelope goes out with the previous body (the transport's
`announce`, RFC 2920) and a message waits for one round trip instead of two.

Everything that may stop a batch part-way is decided where it is safe. The run's
budget and the lease are checked before a copy is announced (`Copies.take`). A
throttle, the bounce guard's pause and a refusing relay are only known from a
verdict, after the next copy was announced: that copy is handed back untried and
its connection closed, so the relay, never given its body, delivers nothing.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

from ..audience.tokens import manage_url, unsubscribe_url
from ..mail import verp
from ..mail.compose import Recipient
from ..mail.headers import HeaderError
from ..mail.transport import Connection, Envelope, TransportError, Verdict
from . import ledger
from .batch import Batch
from .models import DeliveryStatus as D

ROW_STATUS = {Verdict.ACCEPTED: D.SENT, Verdict.RETRY: D.DEFERRED, Verdict.BOUNCE: D.BOUNCED, Verdict.REJECT: D.FAILED}
OVER_BUDGET_SECONDS = 30.0  # past the run's deadline a slow relay's batch gives its rest back


class Copy(NamedTuple):
    index: int  # in the batch's rows
    row: ledger.Claimed
    sender: str  # the envelope sender (VERP: names this copy)
    payload: bytes


class Copies:
    """The batch's rows as copies ready to go, in order (`take`). A row whose address
    cannot go in a header fails here. `stopped` says why the rows from `next` on were
    not handed out: "budget" (far past the run's deadline) or "lease" (nearly out)."""

    def __init__(self, batch: Batch, prepared: Callable, limiter, deadline: float, issue_id: int, base_url: str):
        self.batch, self.prepared, self.limiter = batch, prepared, limiter
        self.deadline, self.issue_id, self.base_url = deadline + OVER_BUDGET_SECONDS, issue_id, base_url
        self.rows = batch.claim.rows
        self.next = 0  # the first row not handed out and not failed
        self.stopped = ""

    def take(self) -> Copy | None:
        rows, base_url = self.rows, self.base_url
        while self.next < len(rows) and not self.stopped:
            index, row = self.next, rows[self.next]
            if time.monotonic() >= self.deadline:
                self.stopped = "budget"
                break
            template, composer = self.prepared(row.variant)
            url = unsubscribe_url(base_url, row.subscriber_id, row.unsubscribe_token)
            try:
                payload = template.fill(Recipient(row.email, f"issue-{self.issue_id}.sub-{row.subscriber_id}", url,
                                                  manage_url=manage_url(base_url, row.subscriber_id,
                                                                        row.manage_token)))
            except HeaderError as exc:
                self.next += 1
                self.batch.add(row, D.FAILED, str(exc))
                continue
            if self.batch.expiring():
                self.stopped = "lease"
                break
            self.limiter.acquire()
            self.next += 1
            return Copy(index, row, composer.envelope_from(verp.ISSUE, verp.copy_ident(row.delivery_id,
                                                                                        row.subscriber_id)), payload)
        return None


def send(connection: Connection, batch: Batch, copies: Copies, turn) -> tuple[Connection | None, str]:
    """Send the batch's copies; return (the connection, or None if it is gone; why it
    stopped: "", "paused", "relay unavailable", "budget" or "lease"). `turn` is told of
    a throttle (`throttled(batch, row, untried, reply)`)."""
    rows = batch.claim.rows
    copy = copies.take()
    while copy is not None:
        following = copies.take()
        try:
            outcome = connection.send(copy.sender, copy.row.email, copy.payload,
                                      Envelope(following.sender, following.row.email) if following else None)
        except TransportError as exc:
            connection.close()
            untried = rows[following.index if following else copies.next:]
            if exc.outcome.verdict == Verdict.THROTTLED:
                turn.throttled(batch, copy.row, untried, exc.outcome.reply)
                return None, ""
            return None, batch.stop([copy.row, *untried], exc.outcome, batch.issue_id)
        status = ROW_STATUS.get(outcome.verdict)
        if status is not None:
            batch.add(copy.row, status, outcome.reply)
            if not batch.paused:
                copy = following
                continue
            batch.release_rest(rows[following.index if following else copies.next:])
            return _unless_announced(connection, following), "paused"
        untried = rows[following.index if following else copies.next:]
        if outcome.verdict == Verdict.THROTTLED:
            turn.throttled(batch, copy.row, untried, outcome.reply)
            return _unless_announced(connection, following), "paused" if batch.paused else ""
        return _unless_announced(connection, following), batch.stop([copy.row, *untried], outcome, batch.issue_id)
    if copies.stopped:
        batch.release_rest(rows[copies.next:])
        batch.result.more_due = True
        return connection, copies.stopped
    batch.flush()
    return connection, "paused" if batch.paused else ""


def _unless_announced(connection: Connection, announced: Copy | None) -> Connection | None:
    """The connection, or None once closed: a copy announced on it will not be sent."""
    if announced is None:
        return connection
    connection.close()
    return None
