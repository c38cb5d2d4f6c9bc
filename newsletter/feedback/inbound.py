"""A mail that came back to a bounce address, turned into events (or kept).

The SMTP receiver and the IMAP poller both end here. The copy a mail is about
comes from the verified VERP address it was sent to, never from what the mail
says: anyone can write a bounce, nobody else can make our addresses. What it
says (hard or soft, the status, the reason) comes from the parsers. When the
returned copy's Message-ID names a different copy than the address, the two
disagree and the mail is kept for an editor instead of acted on.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..config import Settings
from ..mail import verp as verp_kinds
from ..mail.verp import BounceAddress, Verp
from . import parsers, policy
from .models import Disposition, FeedbackKind, InboundMessage

log = logging.getLogger(__name__)

KEEP_BYTES = 256 * 1024  # of an unparsed mail, for an editor to read
KINDS = {parsers.HARD: FeedbackKind.HARD_BOUNCE, parsers.SOFT: FeedbackKind.SOFT_BOUNCE,
         parsers.COMPLAINT: FeedbackKind.COMPLAINT}


@dataclass(frozen=True)
class Outcome:
    result: str  # "event", "duplicate", "unknown delivery", "ignored", "unparsed"
    detail: str


def keep(session: Session, source: str, disposition: str, raw: bytes, envelope_to: str, note: str) -> None:
    message = parsers.load(raw[:64 * 1024]) if disposition == Disposition.IGNORED else parsers.load(raw)
    session.add(InboundMessage(
        source=source, disposition=disposition, envelope_to=parsers.clean(envelope_to, 254),
        sender=parsers.header_text(message.get("From", ""), 254),
        subject=parsers.header_text(message.get("Subject", ""), 300), note=parsers.clean(note, 500),
        size=len(raw), raw=raw[:KEEP_BYTES] if disposition == Disposition.UNPARSED else b"",
    ))
    session.flush()


def ingest(session: Session, settings: Settings, source: str, raw: bytes,
           addresses: list[tuple[str, BounceAddress]]) -> list[Outcome]:
    """One returned mail: `ingest_many` of one. Never commits."""
    return ingest_many(session, settings, [(source, raw, addresses)])[0]


def ingest_many(session: Session, settings: Settings,
                mails: list[tuple[str, bytes, list[tuple[str, BounceAddress]]]]) -> list[list[Outcome]]:
    """Turn returned mails into events for each verified (address, copy), all through the
    policy at once; per mail, an outcome per address. Never commits."""
    outcomes: list[list[Outcome | None]] = []
    waiting = []  # (mail, address index, event, parsed, envelope_to)
    for m, (source, raw, addresses) in enumerate(mails):
        parsed = parsers.parse(raw)
        digest = hashlib.sha256(raw).hexdigest()[:40]
        outcomes.append([None] * len(addresses))
        for a, (envelope_to, address) in enumerate(addresses):
            if address.kind == verp_kinds.TEST:
                keep(session, source, Disposition.IGNORED, raw, envelope_to, "about a test send: " + parsed.note)
                outcomes[m][a] = Outcome("ignored", "test send")
            elif parsed.verdict == parsers.IGNORE:
                keep(session, source, Disposition.IGNORED, raw, envelope_to, parsed.note)
                outcomes[m][a] = Outcome("ignored", parsed.note)
            elif not parsed.is_event:
                keep(session, source, Disposition.UNPARSED, raw, envelope_to, parsed.note)
                outcomes[m][a] = Outcome("unparsed", parsed.note)
            else:
                waiting.append((m, a, policy.Event(
                    source=source, event_key=f"{digest}:{address.kind}-{address.ident}", kind=KINDS[parsed.verdict],
                    delivery_id=address.delivery_id, subscriber_id=address.subscriber_id,
                    message_id=parsed.original_message_id if address.kind == verp_kinds.ISSUE else "",
                    email=parsed.recipient, status=parsed.status, reason=parsed.reason or parsed.note,
                ), parsed, envelope_to))
    applied = policy.apply_many(session, settings, [event for _, _, event, _, _ in waiting])
    for (m, a, event, parsed, envelope_to), result in zip(waiting, applied):
        if result.action == policy.ANOTHER_COPY:
            note = (f"{parsed.note}, but the returned copy <{parsed.original_message_id}> "
                    f"is not the one {envelope_to} names")
            keep(session, event.source, Disposition.UNPARSED, mails[m][1], envelope_to, note)
            outcomes[m][a] = Outcome("unparsed", note)
        else:
            outcomes[m][a] = Outcome("event" if result.recorded else (
                "duplicate" if result.action == "already recorded" else "unknown delivery"), result.action)
    return outcomes


def addresses_in_headers(verp: Verp, raw: bytes) -> list[tuple[str, BounceAddress]]:
    """For mail read from a mailbox (no envelope): our verified addresses among the
    headers that carry the envelope recipient, and the returned copy's sender."""
    message = parsers.load(raw[:256 * 1024])
    candidates = []
    for name in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To"):
        for value in message.get_all(name, []) or []:
            candidates += re.findall(r"[\w.+-]+@[\w.-]+", str(value))
    parsed = parsers.parse(raw)
    if parsed.original_sender:
        candidates.append(parsed.original_sender)
    found: dict[BounceAddress, str] = {}
    for candidate in candidates:
        address = verp.parse(candidate)
        if address is not None and address not in found:
            found[address] = candidate.lower()
    return [(text, address) for address, text in found.items()]
