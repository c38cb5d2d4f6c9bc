"""POST /hooks/mailgun: Mailgun's webhooks (JSON, "event-data" with a "signature").

The signature is HMAC-SHA256 over timestamp + token under the webhook signing key
(MAILGUN_WEBHOOK_SIGNING_KEY); a timestamp outside the replay window is refused,
and the event id makes a replayed event count once.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from ...config import Settings
from ...mail.verp import Verp
from ..models import FeedbackKind, FeedbackSource
from . import REPLAY_WINDOW_SECONDS, HookMalformed, HookRefused, Received, load_json, make_event, need, when


def verify(settings: Settings, body: bytes, now: datetime) -> dict:
    payload = load_json(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise HookRefused(401, "no signature")
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    expected = hmac.new(settings.mailgun_webhook_signing_key.encode(), (timestamp + token).encode(),
                        hashlib.sha256).hexdigest()
    if not (timestamp and token and hmac.compare_digest(expected, given)):
        raise HookRefused(403, "bad signature")
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise HookRefused(403, "stale timestamp: outside the replay window")
    return payload


def receive(settings: Settings, headers, body: bytes, now: datetime) -> Received:
    payload = verify(settings, body, now)
    data = need(payload, "event-data", dict)
    event_id, name = need(data, "id"), need(data, "event")
    severity = str(data.get("severity", ""))
    if name == "failed" and severity in ("permanent", "temporary"):
        kind = FeedbackKind.HARD_BOUNCE if severity == "permanent" else FeedbackKind.SOFT_BOUNCE
    elif name in ("complained", "unsubscribed"):
        kind = FeedbackKind.COMPLAINT if name == "complained" else FeedbackKind.UNSUBSCRIBE
    elif name == "failed":
        raise HookMalformed(f"failed event with severity {severity!r}")
    else:
        return Received(ignored=1)
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    message_headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    envelope = data.get("envelope") if isinstance(data.get("envelope"), dict) else {}
    verp = Verp(settings.secret_key, settings.bounce_domain) if settings.bounce_domain else None
    event = make_event(
        FeedbackSource.MAILGUN, event_id, kind, verp=verp, envelope_sender=str(envelope.get("sender", "")),
        message_id=str(message_headers.get("message-id", "")), email=need(data, "recipient"),
        status=str(status.get("enhanced-code", "") or status.get("code", "")),
        reason=str(status.get("description", "") or status.get("message", "") or data.get("reason", "")),
        occurred_at=when(data.get("timestamp"), now),
    )
    return Received(events=[event])
