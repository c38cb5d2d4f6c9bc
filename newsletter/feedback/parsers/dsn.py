"""RFC 3464 delivery status notifications: what Postfix, Exim, Exchange and most
relays send when a message they accepted fails or is delayed.

The report's second part holds one block of per-message fields and one block per
recipient (`Action`, `Status`, `Final-Recipient`, `Diagnostic-Code`); the third, the
returned copy or its headers, gives the original Message-ID. `Action: failed` with
a 5.x.x status is a hard bounce; `delayed`, or `failed` after 4.x.x (the relay
gave up retrying a temporary error), is soft; `delivered`, `relayed` and
`expanded` are reports of success and are ignored.
"""
from __future__ import annotations

import re
from email.message import Message

from . import HARD, IGNORE, SOFT, UNKNOWN, Parsed, address_in, clean, headers_of_original, message_id_in

_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")


def _blocks(message: Message) -> list[Message]:
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            return [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    return []


def _original(message: Message) -> tuple[str, str]:
    """(Message-ID, envelope sender) of the returned copy, as far as it is there."""
    for part in message.walk():
        headers = headers_of_original(part)
        if headers is not None:
            return message_id_in(str(headers.get("Message-ID", ""))), address_in(str(headers.get("Return-Path", "")))
    return "", ""


def parse(message: Message) -> Parsed:
    blocks = _blocks(message)
    if len(blocks) < 2:
        return Parsed(UNKNOWN, note="delivery report without per-recipient fields")
    message_id, sender = _original(message)
    chosen: Parsed | None = None
    for block in blocks[1:]:
        action = clean(block.get("Action", ""), 40).lower()
        status_field = clean(block.get("Status", ""), 40)
        match = _STATUS.search(status_field)
        status = match.group(0) if match else ""
        recipient = address_in(str(block.get("Final-Recipient", "") or block.get("Original-Recipient", "")))
        reason = clean(block.get("Diagnostic-Code", "")) or status_field
        common = dict(status=status, reason=reason, recipient=recipient, original_message_id=message_id,
                      original_sender=sender)
        if action == "failed" and status.startswith("5"):
            found = Parsed(HARD, note=f"delivery report: failed, {status}", **common)
        elif action == "delayed" or (action == "failed" and status.startswith("4")):
            found = Parsed(SOFT, note=f"delivery report: {action}, {status or 'no status'}", **common)
        elif action in ("delivered", "relayed", "expanded"):
            found = Parsed(IGNORE, note=f"delivery report: {action}", **common)
        else:
            found = Parsed(UNKNOWN, note=f"delivery report with Action {action!r} and Status {status_field!r}",
                           **common)
        # One envelope recipient per copy (VERP); if a report lists several, the worst wins.
        if chosen is None or _rank(found) > _rank(chosen):
            chosen = found
    return chosen


def _rank(parsed: Parsed) -> int:
    return {HARD: 4, SOFT: 3, UNKNOWN: 2, IGNORE: 1}.get(parsed.verdict, 0)
