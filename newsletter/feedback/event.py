"""The one shape every way in gives what it heard: a normalised event about one copy."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import FeedbackKind


@dataclass(frozen=True)
class Event:
    source: str
    event_key: str  # the provider's event id, or the bounce mail's own id
    kind: FeedbackKind
    delivery_id: int | None = None  # from a verified VERP address
    subscriber_id: int | None = None  # from a verified confirmation VERP address
    message_id: str = ""  # the original copy's Message-ID, without <>
    email: str = ""  # the address the report is about
    status: str = ""
    reason: str = ""
    occurred_at: datetime | None = None
