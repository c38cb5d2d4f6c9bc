"""Several relays behind one `Transport`: weights, cool-downs, failover.

Each connection goes to a relay drawn by weight among the usable ones (weight 0:
a backup, tried in order once no weighted relay is usable). A relay that refuses
the connection, times out, answers 4xx at the greeting or AUTH, or drops the
connection mid-send is cooling down for SMTP_RELAY_COOLDOWN_SECONDS: no new
connections while another relay is usable, and the message in hand goes to the
next relay at once (it was not accepted, so it is sent once). A relay that
refuses us for good at connect, TLS or AUTH (5xx) is disabled until an editor
re-enables it or its settings change, with a notice on the delivery page.

The engine only sees what no relay could do: RETRY when every relay is down
(it defers, as with one relay), STOP when every relay is disabled (it pauses).
When nothing else is left the pool still tries cooling relays, then disabled
ones (a resumed issue finds out whether the credentials were fixed; success
re-enables the relay), so a single relay behaves exactly as before.
"""
from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, replace

from ...config import Relay, Settings
from ..compose import MessageTemplate
from . import Connection, Envelope, Outcome, TransportError, Verdict
from .relay_state import RelayStatus, relay_key, store_for
from .smtp import SmtpTransport

log = logging.getLogger(__name__)

COUNT_EVERY = 500  # accepted messages per write of the shares (and at most every COUNT_SECONDS)
COUNT_SECONDS = 2.0


@dataclass
class Member:
    relay: Relay
    key: str
    transport: SmtpTransport


class RelayPool:
    def __init__(self, settings: Settings, tally: str = "", store=None, rng: random.Random | None = None,
                 clock=time.time):
        self.settings, self.tally, self.clock = settings, tally, clock
        self.store = store if store is not None else store_for(settings)
        self.rng = rng or random.Random()
        self.members = [
            Member(relay, relay_key(settings, relay), SmtpTransport(replace(
                settings, smtp_host=relay.host, smtp_port=relay.port, smtp_username=relay.username,
                smtp_password=relay.password, smtp_security=relay.security, smtp_relays=())))
            for relay in settings.relays
        ]

    def prepare(self, template: MessageTemplate) -> MessageTemplate:
        return self.members[0].transport.prepare(template)  # every relay speaks SMTP: one wire form

    def connect(self) -> PoolConnection:
        member, connection = self.open()
        return PoolConnection(self, member, connection)

    def open(self, exclude: frozenset[str] = frozenset()) -> tuple[Member, Connection]:
        """A connection to the best usable relay, or `TransportError` saying why none."""
        now = self.clock()
        statuses = self.store.statuses([m.key for m in self.members])
        candidates = [m for m in self.members if m.key not in exclude]
        state = {m.key: statuses[m.key].state(now) for m in candidates}
        ready = [m for m in candidates if state[m.key] == "ready"]
        cooling = sorted((m for m in candidates if state[m.key] == "cooling"),
                         key=lambda m: statuses[m.key].cooling_until)
        disabled = [m for m in candidates if state[m.key] == "disabled"]
        tries = self.order(ready) + cooling
        if not tries and not exclude:  # every relay is disabled: try them anyway, last
            tries = disabled
        failures: list[tuple[Member, Outcome]] = []
        for member in tries:
            try:
                connection = member.transport.connect()
            except TransportError as exc:
                self.failed(member, exc.outcome)
                failures.append((member, exc.outcome))
                continue
            if state[member.key] == "disabled":
                self.store.enable(member.key)
                log.warning("relay %s works again: re-enabled", member.relay.name)
            return member, connection
        raise TransportError(self._none_usable(failures, statuses, disabled))

    def order(self, members: list[Member]) -> list[Member]:
        """Weighted draw without replacement, then the backups (weight 0) in order."""
        weighted = [m for m in members if m.relay.weight > 0]
        drawn = []
        while weighted:
            pick = self.rng.choices(weighted, weights=[m.relay.weight for m in weighted])[0]
            drawn.append(pick)
            weighted.remove(pick)
        return drawn + [m for m in members if m.relay.weight == 0]

    def failed(self, member: Member, outcome: Outcome) -> None:
        """A relay that refuses us for good is disabled; any other failure cools it down."""
        name = member.relay.name
        if outcome.verdict == Verdict.STOP:
            self.store.disable(member.key, self.clock(), outcome.reply)
            log.warning("relay %s disabled until an editor re-enables it: %s", name, outcome.reply)
        else:
            self.store.cool(member.key, self.clock() + self.settings.smtp_relay_cooldown_seconds, outcome.reply)
            log.warning("relay %s cooling down for %gs: %s", name, self.settings.smtp_relay_cooldown_seconds,
                        outcome.reply)

    def _none_usable(self, failures, statuses: dict[str, RelayStatus], disabled: list[Member]) -> Outcome:
        if len(self.members) == 1 and len(failures) == 1:
            return failures[0][1]  # one relay: its own words, as before there were several
        stop = bool(failures) and all(o.verdict == Verdict.STOP for _, o in failures) and (
            len(failures) + len(disabled) >= len(self.members))
        tried = {m.key for m, _ in failures}
        words = [f"{m.relay.name}: {o.reply}" for m, o in failures]
        words += [f"{m.relay.name}: disabled ({statuses[m.key].disabled_reason})" for m in disabled
                  if m.key not in tried]
        reply = "no relay could take the mail: " + "; ".join(words or ["none is left to try"])
        return Outcome(Verdict.STOP if stop else Verdict.RETRY, reply)

    def count(self, counts: Counter) -> None:
        if counts:
            self.store.count(counts, self.tally)


class PoolConnection:
    """A connection to one relay that moves to another when its relay goes down."""

    def __init__(self, pool: RelayPool, member: Member, connection: Connection):
        self.pool, self.member, self.connection = pool, member, connection
        self.counts: Counter = Counter()
        self.uncounted = 0  # sum(self.counts.values()), kept rather than summed per message
        self.counted_at = time.monotonic()

    @property
    def relay(self) -> Relay:
        return self.member.relay

    def send(self, envelope_from: str, recipient: str, message: bytes, announce: Envelope | None = None) -> Outcome:
        gone: set[str] = set()
        while True:
            try:
                outcome = self.connection.send(envelope_from, recipient, message, announce)
            except TransportError as exc:
                if not exc.lost:
                    raise
                self._fail_over(exc, gone)
                continue
            if outcome.accepted:
                self.counts[self.member.key] += 1
                self.uncounted += 1
                if self.uncounted >= COUNT_EVERY or time.monotonic() - self.counted_at >= COUNT_SECONDS:
                    self.flush()
            return outcome

    def _fail_over(self, exc: TransportError, gone: set[str]) -> None:
        """The relay dropped us mid-send: cool it down and carry on through another,
        or re-raise for the engine if none is usable."""
        self.pool.failed(self.member, exc.outcome)
        self.connection.close()
        gone.add(self.member.key)
        try:
            self.member, self.connection = self.pool.open(exclude=frozenset(gone))
        except TransportError:
            self.connection = _Closed()
            raise exc from None
        log.warning("moved to relay %s after %s", self.member.relay.name, exc.outcome.reply)

    def flush(self) -> None:
        counts, self.counts, self.counted_at = self.counts, Counter(), time.monotonic()
        self.uncounted = 0
        self.pool.count(counts)

    def alive(self) -> bool:
        return self.connection.alive()

    def close(self) -> None:
        self.flush()
        self.connection.close()


class _Closed:
    """Where a connection stands once every relay failed it."""

    def send(self, envelope_from: str, recipient: str, message: bytes, announce: Envelope | None = None) -> Outcome:
        raise TransportError(Outcome(Verdict.RETRY, "connection closed"), lost=False)

    def alive(self) -> bool:
        return False

    def close(self) -> None:
        return None
