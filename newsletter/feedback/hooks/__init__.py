"""Webhooks from the relay's provider, one module per provider, one shape out.

Each module's `receive(settings, headers, body, now)` checks the request's
signature or credentials FIRST, on the raw body, and raises `HookRefused` (401
or 403) before it parses anything; then it parses and raises `HookMalformed`
(400) for a body that is not what the provider sends. What it returns is a list
of `policy.Event`s (with the provider's event id as the key, so a replay is
recorded once) and, for SNS, a subscription to confirm. The web handler does the
rest: apply each event, commit, answer.

Nothing here touches the database: a request that fails verification cannot
store anything because nothing it could store is reached.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ...mail.verp import Verp
from ..models import FeedbackKind
from ..parsers import clean
from ..policy import Event

REPLAY_WINDOW_SECONDS = 15 * 60  # how old a signed timestamp may be (Mailgun, SendGrid)


class HookRefused(Exception):
    """The request is not from the provider (bad or missing signature): 401 or 403."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HookMalformed(ValueError):
    """Verified, but not a body the provider sends: 400."""


@dataclass
class Received:
    events: list[Event] = field(default_factory=list)
    ignored: int = 0  # events of kinds we do not act on (deliveries, opens, …)
    subscribe_url: str = ""  # SNS: a subscription to confirm


def load_json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HookMalformed("the body is not JSON") from None


def need(mapping, key: str, kind: type = str):
    """A required field of a parsed body, of the given type, or `HookMalformed`."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or (kind is str and not value):
        raise HookMalformed(f"{key!r} is missing or not a {kind.__name__}")
    return value


def when(value, default: datetime) -> datetime:
    """A provider's timestamp (ISO 8601 or Unix seconds) as aware UTC; the default if unreadable."""
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), timezone.utc)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return default


def make_event(source: str, key: str, kind: FeedbackKind, *, verp: Verp | None, envelope_sender: str = "",
               message_id: str = "", email: str = "", status: str = "", reason: str = "",
               occurred_at: datetime | None = None) -> Event:
    """An event tied by our VERP envelope sender when the provider reports it, else by
    the original Message-ID, else by the address."""
    address = verp.parse(envelope_sender) if verp and envelope_sender else None
    return Event(source=source, event_key=clean(key, 200), kind=kind,
                 delivery_id=address.delivery_id if address else None,
                 subscriber_id=address.subscriber_id if address else None,
                 message_id="" if address else clean(message_id, 300).strip("<>"),
                 email=clean(email, 254), status=clean(status, 20), reason=clean(reason, 2000),
                 occurred_at=occurred_at)
