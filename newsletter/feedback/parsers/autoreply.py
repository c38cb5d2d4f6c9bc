"""Auto-replies: vacation notices and other mail a program wrote back (RFC 3834).

They reach the envelope sender like bounces do, and they say nothing about the
address: recognised so they are never mistaken for a bounce, then ignored.
"""
from __future__ import annotations

import re
from email.message import Message

from . import clean, header_text

_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[ -]?(reply|response|antwort)|autoreply|auto:|"
    r"vacation|on vacation|abwesenheit|absence|réponse automatique|respuesta automática|risposta automatica)",
    re.IGNORECASE,
)
_MARKERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Mail-Autoreply")


def why(message: Message) -> str:
    """What marks the mail as automatic, or "" if nothing does."""
    submitted = clean(message.get("Auto-Submitted", ""), 60).lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    for name in _MARKERS:
        if message.get(name) is not None:
            return f"{name} header"
    precedence = clean(message.get("Precedence", "") or message.get("X-Precedence", ""), 40).lower()
    if precedence in ("auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    subject = header_text(message.get("Subject", ""), 200)
    if _SUBJECT.match(subject):
        return f"subject {subject!r}"
    return ""


def is_auto_reply(message: Message) -> bool:
    return bool(why(message))
