"""Bounces that are not RFC 3464 reports: Exim's and qmail's plain-text notices, the
older Microsoft non-delivery reports, Gmail's "Address not found", and the like.

They are recognised by who sent them (MAILER-DAEMON, postmaster, a subject such as
"Undelivered Mail Returned to Sender") and read only in their own words, the text
before the returned copy, so a version number or a code quoted in our own issue
is never taken for the remote server's answer. An enhanced status code (5.1.1)
decides; without one, an SMTP reply code in a sentence the server wrote
("said: 550 …"); without either, only a small set of unambiguous phrases. A
notice that says none of these is left unparsed, never guessed.
"""
from __future__ import annotations

import re
from email.message import Message

from . import (
    HARD,
    SOFT,
    UNKNOWN,
    Parsed,
    address_in,
    clean,
    header_text,
    headers_of_original,
    message_id_in,
    text_of,
)

_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer|mail\.daemon)@", re.IGNORECASE)
_SUBJECT = re.compile(
    r"(undeliver|undelivered|delivery (status notification|failure|has failed|failed|notification)|"
    r"returned mail|failure notice|mail delivery (failed|system)|non[- ]?delivery|warning: message .* delayed|"
    r"delivery delayed|could not (be )?deliver|nicht zustellbar)",
    re.IGNORECASE,
)
# Where the server's own words end and the returned copy begins.
_COPY_STARTS = re.compile(
    r"^(-+ ?(this is a copy of|below this line is a copy|original message|the original message|"
    r"message header follows|returned message)|original message headers:|"
    r"(received|return-path|message-id|dkim-signature): )",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTED_ID = re.compile(r"(?im)^\s*message-id:\s*(<[^>\n]+>)")
_ENHANCED = re.compile(r"(?<![\w.])([45])\.(\d{1,3})\.(\d{1,3})(?![\w.])")
_REPLY = re.compile(r"(?:said|returned|reply|error|response|server)[^\n]{0,40}?[:'\"(]\s*([45]\d\d)[\s-]",
                    re.IGNORECASE)
_PERMANENT = re.compile(
    r"(this is a permanent error|permanent (fatal )?(error|failure)|user unknown|no such (user|mailbox)|"
    r"mailbox (does not|doesn't) exist|address (not found|couldn't be found|does not exist)|"
    r"recipient (address rejected|not found)|account (has been )?disabled|i'm afraid i wasn't able to deliver)",
    re.IGNORECASE,
)
_TEMPORARY = re.compile(
    r"(has not yet been delivered|temporar(y|ily)|will (be )?retry|will be retried|still trying|"
    r"delivery (has been )?delayed|mailbox (is )?full|over quota|quota exceeded)",
    re.IGNORECASE,
)


def _is_bounce(message: Message) -> bool:
    sender = address_in(str(message.get("From", "")))
    return bool(_SENDER.match(sender) or _SUBJECT.search(header_text(message.get("Subject", ""), 200)))


def _own_words(message: Message) -> str:
    """The notice's text before the returned copy: the first text part, cut at the copy."""
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break
        if part.get_content_type() in ("text/plain", "text/html"):
            text = text_of(part, 50_000)
            if part.get_content_type() == "text/html":
                text = re.sub(r"<[^>]+>", " ", text)
            cut = _COPY_STARTS.search(text)
            return text[:cut.start()] if cut else text
    return ""


def _line_with(text: str, start: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    return clean(text[line_start:line_end if line_end >= 0 else None], 500)


def _original_message_id(message: Message) -> str:
    """The returned copy's Message-ID: from an attached copy, else from the quoted text."""
    for part in message.walk():
        headers = headers_of_original(part)
        if headers is not None:
            return message_id_in(str(headers.get("Message-ID", "")))
    for part in message.walk():
        if not part.is_multipart():
            match = _QUOTED_ID.search(text_of(part))
            if match:
                return message_id_in(match.group(1))
    return ""


def parse(message: Message) -> Parsed | None:
    """A reading of a non-standard bounce, or None if the mail is not one."""
    if not _is_bounce(message):
        return None
    words = _own_words(message)
    message_id = _original_message_id(message)
    enhanced = _ENHANCED.search(words)
    if enhanced:
        status = enhanced.group(0)
        verdict = HARD if status.startswith("5") else SOFT
        return Parsed(verdict, note=f"non-standard bounce, status {status}", status=status,
                      reason=_line_with(words, enhanced.start()), original_message_id=message_id)
    reply = _REPLY.search(words)
    if reply:
        code = reply.group(1)
        return Parsed(HARD if code.startswith("5") else SOFT, note=f"non-standard bounce, SMTP reply {code}",
                      reason=_line_with(words, reply.start(1)), original_message_id=message_id)
    permanent, temporary = _PERMANENT.search(words), _TEMPORARY.search(words)
    if permanent and not temporary:
        return Parsed(HARD, note="non-standard bounce: " + clean(permanent.group(0), 80),
                      reason=_line_with(words, permanent.start()), original_message_id=message_id)
    if temporary and not permanent:
        return Parsed(SOFT, note="non-standard bounce: " + clean(temporary.group(0), 80),
                      reason=_line_with(words, temporary.start()), original_message_id=message_id)
    return Parsed(UNKNOWN, note="looks like a bounce but says neither a status nor a clear reason",
                  original_message_id=message_id)
