"""POST /hooks/postmark: Postmark's bounce, spam-complaint and subscription-change
webhooks, behind HTTP basic auth (POSTMARK_WEBHOOK_USER / _PASSWORD, put in the
webhook URL in Postmark's settings).

Postmark reports the recipient and its own message id; the copy is found by the
original Message-ID when the payload carries our headers, else as the last copy
sent to that address. The bounce's ID makes a repeat count once.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime

from ...config import Settings
from ..models import FeedbackKind, FeedbackSource
from . import HookRefused, Received, load_json, make_event, need, when

HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
SOFT = {"SoftBounce", "Transient", "DnsError"}


def verify(settings: Settings, headers) -> None:
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise HookRefused(401, "basic auth required")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise HookRefused(401, "basic auth required") from None
    good_user = hmac.compare_digest(user.encode(), settings.postmark_webhook_user.encode())
    if not (hmac.compare_digest(password.encode(), settings.postmark_webhook_password.encode()) and good_user):
        raise HookRefused(401, "wrong user or password")


def _message_id(payload: dict) -> str:
    for header in payload.get("Headers") or []:
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "message-id":
            return str(header.get("Value", ""))
    return ""


def receive(settings: Settings, headers, body: bytes, now: datetime) -> Received:
    verify(settings, headers)
    payload = load_json(body)
    record = need(payload, "RecordType")
    kind_name = str(payload.get("Type", ""))
    if record == "SpamComplaint" or (record == "Bounce" and kind_name == "SpamComplaint"):
        kind = FeedbackKind.COMPLAINT
    elif record == "Bounce" and kind_name in HARD:
        kind = FeedbackKind.HARD_BOUNCE
    elif record == "Bounce" and kind_name in SOFT:
        kind = FeedbackKind.SOFT_BOUNCE
    elif (record == "Bounce" and kind_name == "Unsubscribe") or (
            record == "SubscriptionChange" and payload.get("SuppressSending") is True):
        kind = FeedbackKind.UNSUBSCRIBE
    else:
        return Received(ignored=1)
    if record == "SubscriptionChange":
        email, key = need(payload, "Recipient"), f"{need(payload, 'MessageID')}:{need(payload, 'ChangedAt')}"
    else:
        email, key = need(payload, "Email"), str(need(payload, "ID", int))
    event = make_event(
        FeedbackSource.POSTMARK, f"{record}:{key}", kind, verp=None, message_id=_message_id(payload),
        email=email, reason=str(payload.get("Details", "") or payload.get("Description", "")),
        occurred_at=when(payload.get("BouncedAt") or payload.get("ChangedAt"), now),
    )
    return Received(events=[event])
