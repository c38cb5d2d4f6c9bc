from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow
from .tokens import new_manage_token


class SubscriberStatus(StrEnum):
    """The subscriber's state machine.

        (new) ──subscribe──▶ pending ──confirm──▶ confirmed ──unsubscribe──▶ unsubscribed
                              │  ▲                    │                          │
              purge after N days│  └────subscribe──────┼──────────────────────────┘
                              ▼                       ├──hard bounce──▶ bounced ──subscribe──▶ pending
                          (deleted)                   └──complaint────▶ complained ──subscribe──▶ pending

    Only `confirmed` subscribers receive issues. `bounced` is the suppression list:
    an address whose server refused it permanently (at RCPT, or in a bounce that
    came back later) gets nothing until its owner opts in again. `complained` is a
    reader who pressed "report spam": unsubscribed at once and kept apart from
    those who left by the link, since mailing them again is what gets a sender
    blocked; only a new double opt-in brings them back (a pending or unsubscribed
    reader who complains lands there too). The transitions are written in
    `audience.subscriptions` and `audience.suppression`.
    """

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    # Who gets mail.
    RECEIVING: ClassVar[tuple[SubscriberStatus, ...]]


SubscriberStatus.RECEIVING = (SubscriberStatus.CONFIRMED,)


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        enum_check("status", SubscriberStatus),
        # The subscribers page: newest first, by status, keyset on id. (The prefix
        # search index on PostgreSQL is written by hand in the migration.)
        Index("ix_subscribers_status_id", "status", "id"),
        # The confirmation relay's scan: mails asked for in the last minutes.
        Index("ix_subscribers_confirm_mail_requested_at", "confirm_mail_requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # As typed, with the domain lower-cased; `email_key` is the whole address
    # lower-cased, so Bob@X.com and bob@x.com are one person.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # The reader's categories (`readers.categories`): "" is all, including new ones.
    categories: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Consent: who asked, and who confirmed, from where.
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_ip: Mapped[str] = mapped_column(String(45), default="")
    request_user_agent: Mapped[str] = mapped_column(String(512), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(index=True)
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
    # The same kind of token for the "manage your subscription" page; separate, so
    # the link in List-Unsubscribe (seen by mailbox providers) cannot erase anyone.
    manage_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_manage_token)

    # Brought in by an import rather than the form: which one, and the opt-in the
    # importer stated for this row (where and when they agreed).
    import_id: Mapped[int | None] = mapped_column(ForeignKey("subscriber_imports.id", ondelete="SET NULL"))
    consent_source: Mapped[str] = mapped_column(String(500), default="", server_default="")
    consent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


class ImportStatus(StrEnum):
    """An upload of a subscriber CSV, worked through by a task.

        queued ──task starts──▶ running ──all rows read──▶ done
                                   │
                                   └──the file cannot be read──▶ failed

    The uploaded bytes are held only until the task has read them (they hold
    addresses, which an erasure must be able to remove everywhere).
    """

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    FINISHED: ClassVar[tuple[ImportStatus, ...]]


ImportStatus.FINISHED = (ImportStatus.DONE, ImportStatus.FAILED)


class SubscriberImport(Base):
    """One import (CLI or upload): what it was told about consent, and how it went."""

    __tablename__ = "subscriber_imports"
    __table_args__ = (enum_check("status", ImportStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.QUEUED)
    filename: Mapped[str] = mapped_column(String(255), default="")
    imported_by: Mapped[str] = mapped_column(String(254), default="")
    # The importer's statement that the people in the file opted in, and where;
    # empty: they did not say so, and everyone new gets a confirmation mail.
    consent_source: Mapped[str] = mapped_column(String(500), default="")
    total_rows: Mapped[int] = mapped_column(default=0)
    done_rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    merged: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # "line N: reason" per bad row (the first few hundred), never an address.
    report: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[bytes | None] = mapped_column(LargeBinary)


class Erasure(Base):
    """What is left of a person who was erased: a keyed hash of their address.

    Enough to flag a later import of the same address, useless for finding out
    who it was without the key.
    """

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(20), default="editor")  # editor, subscriber
