"""The worker's side of a send: claim a batch, send it over one connection, record.

Unlike the ledger's services, this takes a `Database` and commits, because its
transactions must be short and separate: the claim is committed before the first
message goes out (so no other worker takes those rows), and outcomes are
committed every FLUSH_EVERY messages (so a worker killed mid-batch re-sends at
most that many once its lease expires). A heartbeat thread renews the lease of
the batch in hand every third of SEND_LEASE_SECONDS, so the lease can be short:
rows stay ours however slow the relay, and a dead worker's rows are due again
within about a minute (`batch`). One connection is opened and reused for every
batch this run claims, and a batch's copies go out one announced ahead of the
next (`stream`): a message waits for one round trip, not two. The engine speaks
only the transport's verdicts. While a group is the only one with rows due, its
next batch is claimed (`batch.Ahead`) while the current one sends, so no claim
waits between batches.

Batches are claimed per receiving-domain group, in turns (`lanes`), each as large
as the group's pacing grants now (`pacing`): a throttled group (THROTTLED: 421,
4.7.x) slows down and its rows wait in its own lane, while the other groups'
batches keep flowing at their own pace. Nothing waits on a slow group's tokens
while another group has rows due.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor

from ..config import Settings
from ..db import Database
from ..mail.compose import Composer, MessageTemplate
from ..mail.transport import Connection, Transport, TransportError, transport_for
from ..readers import variants
from . import groups, ledger, pacing, rate, stream
from .batch import FLUSH_EVERY, Ahead, Batch, Heartbeat, RunResult  # noqa: F401 - FLUSH_EVERY: what a kill may cost
from .lanes import Lanes

log = logging.getLogger(__name__)

MAX_PACED_SLEEP = 5.0  # seconds a run waits for a held-back group; longer waits end the run
SLOT_RETRY_SECONDS = 0.2  # a group with every connection in use is asked again after this
LANE_MAX_SECONDS = 30.0  # a throttled row is due again within this (jittered from the group's pace)
# Per process. Frozen content never changes once sending starts, but an id alone is
# not an identity: a restored or re-created database reuses ids, so the key also
# holds the settings and the moment sending started.
_templates: dict[tuple, tuple[MessageTemplate, str]] = {}


def _send_key(db: Database, settings: Settings, issue_id: int) -> tuple:
    """What tells this send from another (asked once per run): the templates' key."""
    with db.session() as session:
        return (settings, issue_id, ledger.started_at(session, issue_id))


def _template(db: Database, key: tuple, transport: Transport, variant: str = ""):
    """The issue's composed mail (or its category variant's) in the transport's wire
    form, and its composer (for each copy's envelope sender). A session is opened
    only when it is not cached yet."""
    if _templates and next(iter(_templates))[:3] != key:
        _templates.clear()  # another issue or another send: one issue's variants at a time
    prepared = _templates.get(key + (variant,))
    if prepared is None:
        settings, issue_id = key[0], key[1]
        with db.session() as session:
            mail = variants.frozen(session, issue_id, variant) if variant else ledger.frozen_mail(session, issue_id)
        if mail is None:
            return None
        composer = Composer(settings)
        prepared = _templates[key + (variant,)] = (transport.prepare(composer.compose(mail)), composer)
    return prepared


def run(db: Database, settings: Settings, issue_id: int, budget_seconds: float = 30.0) -> RunResult:
    """Send due rows of one issue until none is due or the time budget is spent,
    taking the receiving-domain groups in turns, each as fast as its pacing allows."""
    result = RunResult()
    deadline = time.monotonic() + budget_seconds
    limiter, pacer = rate.limiter(settings), pacing.pacer(settings)
    lanes = Lanes(groups.names(settings))
    transport = transport_for(settings, tally=f"issue-{issue_id}")
    key = _send_key(db, settings, issue_id)
    connection: Connection | None = None
    heartbeat = Heartbeat(settings.send_lease_seconds)
    heartbeat.start()
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")  # writes behind the sending
    claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claim-ahead")
    ahead: Ahead | None = None
    try:
        while True:
            taken, ahead = (_adopt(ahead, lanes) if ahead is not None else None), None
            if taken is not None:
                group, granted, claim = taken
            else:
                group = lanes.next()
                if group is None:
                    wait = lanes.wait()
                    if wait is None:
                        break  # no group has rows due now
                    if wait > MAX_PACED_SLEEP or time.monotonic() + wait >= deadline:
                        result.stopped, result.paced_for = "paced", wait
                        break
                    time.sleep(wait)
                    continue
                if not pacer.hold(group):  # the group's connections are all in use
                    lanes.hold(group, SLOT_RETRY_SECONDS)
                    continue
                granted, wait = pacer.take(group, settings.send_batch_size, lanes.accepted.pop(group, 0),
                                           lanes.unused.pop(group, 0))
                if not granted:
                    pacer.let_go(group)
                    lanes.hold(group, wait)
                    continue
                with db.session() as session:
                    claim = ledger.claim(session, settings, issue_id, group=group, limit=granted)
                    session.commit()
            if claim is None:
                pacer.let_go(group)
                result.stopped = "not sending"
                break
            result.skipped += claim.skipped
            lanes.unused[group] += granted - len(claim.rows)
            more = len(claim.rows) + claim.skipped >= granted
            if not more:
                lanes.done(group)  # that was the last of what is due now in this group
            if not claim.rows:
                pacer.let_go(group)
                continue
            stop = ""
            prepared = _template(db, key, transport)
            batch = heartbeat.batch = Batch(db, settings, claim, result, issue_id, lambda g=group: pacer.hold(g),
                                            writer)
            try:
                batch.refresh()
                if prepared is None:
                    batch.release_rest(claim.rows)
                    break
                prepared[0].set_date()
                prepared = _variants(db, key, transport, issue_id, prepared)
                if connection is not None and not connection.alive():  # dropped while we were claiming
                    connection.close()
                    connection = None
                if connection is None:
                    try:
                        connection = transport.connect()
                    except TransportError as exc:
                        stop = batch.stop(claim.rows, exc.outcome, issue_id)
                if connection is not None:
                    turn = _Turn(pacer, lanes, group)
                    if more and lanes.alone(group):  # its next turn is this group's anyway: claim it now
                        ahead = Ahead(claimer, db, settings, issue_id, pacer, group, lanes.accepted.pop(group, 0),
                                      lanes.unused.pop(group, 0))
                    copies = stream.Copies(batch, prepared, limiter, deadline, issue_id, settings.base_url)
                    connection, stop = stream.send(connection, batch, copies, turn)
                    turn.tally(batch)
                    if turn.rests and ahead is not None:  # throttled: the group waits, its next batch too
                        ahead.drop()
                        lanes.unused[group] += ahead.unused
                        ahead = None
            finally:
                batch.settle()  # returned normally: flushed already; else the write in flight ends first
                heartbeat.batch = None
                pacer.let_go(group)
            if stop:
                result.stopped = stop
                break
            if time.monotonic() >= deadline:
                result.more_due = True
                break
    finally:
        if ahead is not None:  # the run ends before its turn
            ahead.drop()
            lanes.unused[ahead.group] += ahead.unused
        claimer.shutdown(wait=True)
        _settle(pacer, lanes)
        writer.shutdown(wait=True)
        heartbeat.stop()
        limiter.close()
        pacer.close()
        if connection is not None:
            connection.close()
    if result.retries:
        result.retry_at = min(result.retries)
    return result


class _Turn:
    """A group's batch in this run: what it sent and how fast (for the pacer), and what
    a throttle does: the group's shared rate is cut, the row waits in the group's lane
    without spending an attempt, the rest of the batch goes back untried, and this
    run gives the group a rest while the others go on."""

    def __init__(self, pacer, lanes: Lanes, group: str):
        self.pacer, self.lanes, self.group = pacer, lanes, group
        self.started, self.tallied, self.rests = time.monotonic(), False, False

    def tally(self, batch: Batch) -> None:
        if not self.tallied:
            self.tallied = True
            self.lanes.sent(self.group, batch.accepted, self.started)
            self.lanes.accepted[self.group] += batch.accepted

    def throttled(self, batch: Batch, row: ledger.Claimed, untried: list[ledger.Claimed], reply: str) -> None:
        self.tally(batch)  # this batch so far counts in the rate the group was seen sending at
        rate_now = self.pacer.throttled(self.group, self.lanes.observed(self.group))
        gap = 1.0 / rate_now if rate_now > 0 else 0.0
        lane_delay = min(LANE_MAX_SECONDS, max(1.0, gap) * random.uniform(1.0, 2.0))
        batch.add(row, ledger.THROTTLED, reply, lane_delay)
        batch.release_rest(untried)
        self.lanes.hold(self.group, gap)
        self.rests = True


def _settle(pacer, lanes: Lanes) -> None:
    """Tell the pacer what this run owes it at the end: the successes that let a cut
    group climb back, and the grants never used, which a warm-up day would otherwise
    count as sent. Never raises: at worst the day counts a few copies too many."""
    try:
        for group, accepted, unused in lanes.owed():
            pacer.take(group, 0, accepted, unused)
    except Exception:  # noqa: BLE001 - a Redis gone now costs a little of today's cap, not the run's tallies
        log.exception("settling the run with the pacer failed")


def _adopt(ahead: Ahead, lanes: Lanes) -> tuple[str, int, ledger.Claim | None] | None:
    """The batch claimed ahead as this turn's (group, grant, claim), or None: its rows
    went back, and its grant goes back at the group's next take."""
    taken = ahead.adopt()
    if taken is None:
        lanes.unused[ahead.group] += ahead.unused
        return None
    return (ahead.group, *taken)


def _variants(db, key, transport, issue_id, whole):
    """Per row, the composed mail of its variant; each batch dates each variant once."""
    dated = {"": whole}

    def pick(variant: str):
        if variant not in dated:
            found = _template(db, key, transport, variant)
            if found is None:  # not frozen (cannot happen after the snapshot): the whole issue, not nothing
                log.warning("issue %s: no frozen variant %r", issue_id, variant)
                found = whole
            found[0].set_date()
            dated[variant] = found
        return dated[variant]

    return pick
