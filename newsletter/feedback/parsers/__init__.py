"""Reading what mail servers send back, without guessing.

`parse(raw)` looks at a returned mail in a fixed order: an RFC 3464 delivery
status notification (`dsn`) or an RFC 5965 abuse report (`arf`), known by their
structure; then the common non-standard bounces (`legacy`: Exim, qmail,
Microsoft, Gmail), known by who sent them and what they say; then auto-replies
(`autoreply`: RFC 3834, vacation notices), which are ignored. Anything else is
`UNKNOWN` with a note, and is kept for an editor: a bounce we cannot read is
never turned into a suppression.

Every string here came from outside: it is cleaned (`clean`) before it is kept.
"""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

HARD, SOFT, COMPLAINT, IGNORE, UNKNOWN = "hard", "soft", "complaint", "ignore", "unknown"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250}@[^<>\s]{1,250})>")


@dataclass(frozen=True)
class Parsed:
    verdict: str  # HARD, SOFT, COMPLAINT, IGNORE or UNKNOWN
    note: str = ""  # how it was read, or why it could not be
    status: str = ""  # enhanced status code (5.1.1) when one was given
    reason: str = ""  # the remote server's words (Diagnostic-Code, the SMTP reply)
    recipient: str = ""  # the address the report is about, as it says
    original_message_id: str = ""  # the Message-ID of the copy it is about, without <>
    original_sender: str = ""  # the envelope sender of that copy, when the report names it

    @property
    def is_event(self) -> bool:
        return self.verdict in (HARD, SOFT, COMPLAINT)


def clean(value: object, limit: int = 1000) -> str:
    """Outside text made safe to store and log: no control characters, one line."""
    text = _CONTROL.sub(" ", str(value or ""))
    return " ".join(text.split())[:limit]


def header_text(value: object, limit: int = 300) -> str:
    """A header's text with encoded-words decoded, cleaned; never raises."""
    from email.header import decode_header, make_header

    try:
        text = str(make_header(decode_header(str(value or ""))))
    except (ValueError, LookupError, UnicodeError):
        text = str(value or "")
    return clean(text, limit)


def message_id_in(value: str) -> str:
    match = _MESSAGE_ID.search(value or "")
    return match.group(1) if match else ""


def address_in(value: str) -> str:
    """The address in an RFC 3464 address field (`rfc822; a@b`) or a header."""
    value = clean(value, 600)
    if ";" in value:
        value = value.partition(";")[2]
    match = re.search(r"<([^<>\s]+@[^<>\s]+)>", value) or re.search(r"([^\s<>;,]+@[^\s<>;,]+)", value)
    return match.group(1).strip(".") if match else ""


def load(raw: bytes) -> Message:
    """The mail as a tree; compat32 is the policy that never raises on malformed input."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def text_of(part: Message, limit: int = 200_000) -> str:
    """A leaf part's text, decoded as it says (or as Latin-1 when it lies)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:limit].decode(charset, "replace")
    except LookupError:
        return payload[:limit].decode("latin-1")


def headers_of_original(part: Message) -> Message | None:
    """The returned copy's headers, from a message/rfc822 or text/rfc822-headers part."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        return inner[0] if isinstance(inner, list) and inner else None
    if ctype == "text/rfc822-headers":
        return email.message_from_string(text_of(part, 100_000), policy=email.policy.compat32)
    return None


def parse(raw: bytes) -> Parsed:
    from . import arf, autoreply, dsn, legacy

    message = load(raw)
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return dsn.parse(message)
        if report_type == "feedback-report":
            return arf.parse(message)
    found = legacy.parse(message)
    if found is not None:
        return found
    if autoreply.is_auto_reply(message):
        return Parsed(IGNORE, note="auto-reply: " + autoreply.why(message))
    return Parsed(UNKNOWN, note="neither a delivery report, an abuse report, a known bounce nor an auto-reply")
