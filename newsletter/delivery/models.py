from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow


class DeliveryStatus(StrEnum):
    """One recipient's copy of one issue.

        pending ──claim──▶ sending ──250──▶ sent
           ▲                 │ ├──4xx / connection error──▶ deferred ──due──▶ (claimed again)
           │                 │ ├──5xx at RCPT──▶ bounced (address suppressed)
           │                 │ ├──last attempt failed──▶ failed
           │                 │ └──no longer confirmed at claim──▶ skipped
           └──lease expired (worker died)──┘

    The row is the truth; a Celery message is only a hint that rows are due.
    `lease_expires_at` bounds how long a claimed row can stay `sending`. Every
    write of a status is in `delivery.ledger` (and `delivery.control` for a cancel).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"
    SKIPPED = "skipped"

    # Still owe the subscriber the issue.
    OPEN: ClassVar[tuple[DeliveryStatus, ...]]
    # Waiting for a worker to claim them (when `next_attempt_at` has come).
    WAITING: ClassVar[tuple[DeliveryStatus, ...]]
    # The relay said no for good.
    REFUSED: ClassVar[tuple[DeliveryStatus, ...]]


DeliveryStatus.OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
DeliveryStatus.WAITING = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)
DeliveryStatus.REFUSED = (DeliveryStatus.BOUNCED, DeliveryStatus.FAILED)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        enum_check("status", DeliveryStatus),
        Index("ix_deliveries_due", "issue_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    last_reply: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
