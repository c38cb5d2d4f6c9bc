"""POST /hooks/sendgrid: SendGrid's signed event webhook (a JSON array of events).

The signature is ECDSA (P-256, SHA-256) over the timestamp header followed by the
raw body, checked against SENDGRID_WEBHOOK_PUBLIC_KEY (the base64 key SendGrid
shows, or a PEM); a timestamp outside the replay window is refused, and each
event's sg_event_id makes a replay count once. `smtp-id` is the Message-ID we
gave the copy, which ties the event to it.
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ...config import Settings
from ..models import FeedbackKind, FeedbackSource
from . import REPLAY_WINDOW_SECONDS, HookMalformed, HookRefused, Received, load_json, make_event, need, when

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
KINDS = {"spamreport": FeedbackKind.COMPLAINT, "unsubscribe": FeedbackKind.UNSUBSCRIBE,
         "group_unsubscribe": FeedbackKind.UNSUBSCRIBE, "deferred": FeedbackKind.SOFT_BOUNCE}
MAX_EVENTS = 5000


@lru_cache(maxsize=4)
def public_key(configured: str) -> ec.EllipticCurvePublicKey:
    text = configured.strip()
    key = (serialization.load_pem_public_key(text.encode()) if text.startswith("-----")
           else serialization.load_der_public_key(base64.b64decode(text)))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve public key")
    return key


def verify(settings: Settings, headers, body: bytes, now: datetime) -> None:
    signature, timestamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
    if not signature or not timestamp:
        raise HookRefused(401, "no signature")
    try:
        public_key(settings.sendgrid_webhook_public_key).verify(
            base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise HookRefused(403, "bad signature") from None
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise HookRefused(403, "stale timestamp: outside the replay window")


def _kind(item: dict) -> FeedbackKind | None:
    name = item.get("event")
    if name == "bounce":  # "blocked" is the receiving side refusing for now, not the address
        return FeedbackKind.SOFT_BOUNCE if item.get("type") == "blocked" else FeedbackKind.HARD_BOUNCE
    return KINDS.get(name)


def receive(settings: Settings, headers, body: bytes, now: datetime) -> Received:
    verify(settings, headers, body, now)
    items = load_json(body)
    if not isinstance(items, list) or len(items) > MAX_EVENTS:
        raise HookMalformed(f"expected a JSON array of at most {MAX_EVENTS} events")
    received = Received()
    for item in items:
        if not isinstance(item, dict):
            raise HookMalformed("an event is not an object")
        kind = _kind(item)
        if kind is None:
            received.ignored += 1
            continue
        received.events.append(make_event(
            FeedbackSource.SENDGRID, need(item, "sg_event_id"), kind, verp=None,
            message_id=str(item.get("smtp-id", "")), email=need(item, "email"), status=str(item.get("status", "")),
            reason=str(item.get("reason", "") or item.get("response", "")), occurred_at=when(item.get("timestamp"), now),
        ))
    return received
