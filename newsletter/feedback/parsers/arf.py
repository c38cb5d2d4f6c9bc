"""RFC 5965 abuse reports (ARF): what a mailbox provider's feedback loop sends when a
reader presses "report spam".

The second part (message/feedback-report) says `Feedback-Type: abuse` and usually
`Original-Mail-From` (our VERP address) and `Original-Rcpt-To`; the third is the
reported copy or its headers. Only `abuse` is a complaint; `not-spam` and the
rest change nothing here and are kept for an editor.
"""
from __future__ import annotations

from email.message import Message

from . import COMPLAINT, UNKNOWN, Parsed, address_in, clean, headers_of_original, message_id_in


def parse(message: Message) -> Parsed:
    report = None
    original = None
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            report = payload[0] if isinstance(payload, list) and payload else part
        elif original is None:
            original = headers_of_original(part)
    if report is None:
        return Parsed(UNKNOWN, note="abuse report without a feedback-report part")
    feedback_type = clean(report.get("Feedback-Type", ""), 40).lower()
    message_id = ""
    sender = address_in(str(report.get("Original-Mail-From", "")))
    if original is not None:
        message_id = message_id_in(str(original.get("Message-ID", "")))
        sender = sender or address_in(str(original.get("Return-Path", "")))
    common = dict(recipient=address_in(str(report.get("Original-Rcpt-To", ""))), original_message_id=message_id,
                  original_sender=sender, reason=clean(f"feedback-type: {feedback_type}; "
                                                       f"user-agent: {report.get('User-Agent', '')}", 300))
    if feedback_type == "abuse":
        return Parsed(COMPLAINT, note="abuse report (ARF)", **common)
    return Parsed(UNKNOWN, note=f"feedback report of type {feedback_type!r}, not a complaint", **common)
