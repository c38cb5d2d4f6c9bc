from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow


class SubscriberStatus(StrEnum):
    """The subscriber's state machine.

        (new) ──subscribe──▶ pending ──confirm──▶ confirmed ──unsubscribe──▶ unsubscribed
                              │  ▲                    │                          │
              purge after N days│  └────subscribe──────┼──────────────────────────┘
                              ▼                       └──hard bounce──▶ bounced ──subscribe──▶ pending
                          (deleted)

    Only `confirmed` subscribers receive issues. `bounced` is the suppression list:
    an address whose server refused it permanently gets nothing until its owner
    opts in again. The transitions are written in `audience.subscriptions` and
    `audience.suppression`.
    """

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"

    # Who gets mail.
    RECEIVING: ClassVar[tuple[SubscriberStatus, ...]]


SubscriberStatus.RECEIVING = (SubscriberStatus.CONFIRMED,)


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (enum_check("status", SubscriberStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # As typed, with the domain lower-cased; `email_key` is the whole address
    # lower-cased, so Bob@X.com and bob@x.com are one person.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Consent: who asked, and who confirmed, from where.
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_ip: Mapped[str] = mapped_column(String(45), default="")
    request_user_agent: Mapped[str] = mapped_column(String(512), default="")
    confirmed_at: Mapped[datetime | None]
    confirm_ip: Mapped[str] = mapped_column(String(45), default="")
    confirm_user_agent: Mapped[str] = mapped_column(String(512), default="")
    unsubscribed_at: Mapped[datetime | None]
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str] = mapped_column(String(500), default="")

    # The confirmation mail is an outbox: requested here, marked sent by the worker,
    # re-enqueued by the sweeper if the broker lost the hint.
    confirm_nonce: Mapped[str] = mapped_column(String(32), default="")
    confirm_mail_requested_at: Mapped[datetime | None]
    confirm_mail_sent_at: Mapped[datetime | None]
    # Temporary refusals back off here (the sweeper waits for retry_at); a permanent
    # one suppresses the address instead.
    confirm_mail_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    confirm_mail_retry_at: Mapped[datetime | None]

    # Random, stored, never expires: links in old issues keep working even if
    # SECRET_KEY is rotated.
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"
