"""What came back after the relay: normalised events, and the mail no parser understood."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow


class FeedbackKind(StrEnum):
    """What a bounce, complaint or webhook says about one copy. Not a state machine:
    an event is written once and never changes."""

    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


class FeedbackSource(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    SES = "ses"
    MAILGUN = "mailgun"
    POSTMARK = "postmark"
    SENDGRID = "sendgrid"


class Disposition(StrEnum):
    """Why an inbound mail became no event."""

    UNPARSED = "unparsed"  # kept for an editor to read; never guessed at
    IGNORED = "ignored"  # an auto-reply (RFC 3834, vacation) or a report of success: nothing to do


class FeedbackEvent(Base):
    """One normalised event, recorded once: per (source, the provider's event id), and
    per (delivery, kind), so the same bounce heard by mail and by webhook counts once."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        UniqueConstraint("source", "event_key"),
        UniqueConstraint("delivery_id", "kind"),
        enum_check("kind", FeedbackKind),
        enum_check("source", FeedbackSource),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # Who and what it is about; kept (as NULL) when the delivery or subscriber is deleted.
    delivery_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"), index=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    status: Mapped[str] = mapped_column(String(20), default="")  # the enhanced status code, e.g. 5.1.1
    reason: Mapped[str] = mapped_column(Text, default="")  # the remote server's or provider's own words
    action: Mapped[str] = mapped_column(String(200), default="")  # what the policy did
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboundMessage(Base):
    """A mail that came back and became no event: unparseable (kept whole, up to a
    limit, for an editor to read) or ignored (an auto-reply: its headers only)."""

    __tablename__ = "feedback_messages"
    __table_args__ = (enum_check("disposition", Disposition), enum_check("source", FeedbackSource))

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    disposition: Mapped[str] = mapped_column(String(20))
    envelope_to: Mapped[str] = mapped_column(String(254), default="")
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    note: Mapped[str] = mapped_column(String(500), default="")  # why it was not understood
    size: Mapped[int] = mapped_column(default=0)
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxEntry(Base):
    """What came in, verified and stored in one INSERT before it is answered, and not
    yet applied: a bounce mail with the VERP addresses it was sent to, or a webhook's
    events. A worker applies entries in sets and deletes them in the same transaction,
    so an entry is applied once; one that fails to apply keeps its error and is tried
    again up to MAX_ATTEMPTS, then left for an editor (the sender-health page counts it)."""

    __tablename__ = "feedback_inbox"
    __table_args__ = (enum_check("source", FeedbackSource),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    mail: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # a bounce mail, as received
    addresses: Mapped[str] = mapped_column(Text, default="")  # its verified VERP addresses, one per line
    events: Mapped[str] = mapped_column(Text, default="")  # a webhook's parsed events, as JSON
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
