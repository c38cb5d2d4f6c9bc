"""How a composed mail leaves us: the `Transport` protocol and the verdicts it returns.

Everything above this package (the confirmation outbox, test sends, the delivery
engine) sees only verdicts; reply codes, protocol stages and wire formats stay
inside the transport that speaks them. Today that is SMTP (`smtp.py`), one
transport per relay, behind the pool of SMTP_RELAYS (`relays.py`, with the state
all workers share in `relay_state.py`); an HTTP email API would be another module
answering the same protocol.

May import: `config`, `mail.compose`. Nothing here knows about subscribers or issues.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from ...config import Settings
from ..compose import MessageTemplate, Recipient


class Verdict(StrEnum):
    """What a transport's answer means for the one who sent."""

    ACCEPTED = "accepted"  # the relay took the message
    RETRY = "retry"  # not now (4xx, a dropped connection): try this recipient again later
    # Not now, and slow down: the receiving side limits our pace (421, 4.7.x). Costs
    # the recipient no attempt; the sender paces that recipient's domain group.
    THROTTLED = "throttled"
    BOUNCE = "bounce"  # this address is refused for good: suppress it
    REJECT = "reject"  # this message is refused for good, not the address
    STOP = "stop"  # the relay refuses us (sender, credentials): stop sending and tell a person


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reply: str  # the relay's own words, for people and logs

    @property
    def accepted(self) -> bool:
        return self.verdict == Verdict.ACCEPTED


class TransportError(Exception):
    """The connection could not be opened, or was lost: `outcome` is RETRY or STOP.

    Raised rather than returned because it ends the connection, not one message:
    whoever holds the rest of a batch decides what happens to it. `lost` says the
    connection itself broke (reset, dropped, timed out) rather than the relay
    answering: the relay pool takes that as the relay being down and fails over.
    """

    def __init__(self, outcome: Outcome, lost: bool = False):
        super().__init__(outcome.reply)
        self.outcome = outcome
        self.lost = lost


class Envelope(NamedTuple):
    sender: str
    recipient: str


class Connection(Protocol):
    """One open connection to the relay, for many messages."""

    def send(self, envelope_from: str, recipient: str, message: bytes, announce: Envelope | None = None) -> Outcome:
        """Hand over one prepared copy; raises `TransportError` if the connection is lost.

        `announce`: the envelope of the copy the caller sends next. A relay that
        offers PIPELINING gets it with this copy's body, so the next copy waits for
        one round trip instead of two. The next `send` on this connection must be
        that copy; a caller that changes its mind closes the connection instead
        (the announced copy, never given its body, is not delivered).
        """

    def alive(self) -> bool:
        """Whether the connection still works (a relay may drop an idle one)."""

    def close(self) -> None: ...


class Transport(Protocol):
    def prepare(self, template: MessageTemplate) -> MessageTemplate:
        """The template in this transport's wire form; done once per mail, not per copy."""

    def connect(self) -> Connection:
        """An open connection, or `TransportError`."""


def transport_for(settings: Settings, tally: str = "") -> Transport:
    """The pool of the configured relays (one relay is a pool of one). `tally` names
    what the accepted messages are counted under besides each relay's total (the
    engine passes its issue), for the relays' shares."""
    from .relays import RelayPool

    return RelayPool(settings, tally)


def send_one(transport: Transport, envelope_from: str, template: MessageTemplate, recipient: Recipient) -> Outcome:
    """Send one copy on a connection of its own (a confirmation, a test send); never raises
    for the relay's sake: a lost or refused connection is an outcome too."""
    copy = transport.prepare(template).fill(recipient)
    try:
        connection = transport.connect()
    except TransportError as exc:
        return exc.outcome
    try:
        return connection.send(envelope_from, recipient.email, copy)
    except TransportError as exc:
        return exc.outcome
    finally:
        connection.close()
