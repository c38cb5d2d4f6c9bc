from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow


class Click(Base):
    """One counted request to a comparison link in an issue's mail.

    There is no subscriber here: the link does not name one. `source` is a keyed
    hash of the requesting address and the issue, kept only long enough to tell a
    link scanner's burst (every link within a second) from a reader, then
    forgotten; it cannot be matched across issues. `scanner` marks the rows of
    such a burst, which are kept (so the rule can be checked) and never counted.
    """

    __tablename__ = "clicks"
    __table_args__ = (Index("ix_clicks_burst", "issue_id", "source", "clicked_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str | None] = mapped_column(String(32))
    scanner: Mapped[bool] = mapped_column(default=False)


class IssueVariant(Base):
    """An issue as readers of one category set get it, frozen when sending starts.

    The whole issue (key "") is the issue's own frozen content; a variant row exists
    for every other key in the audience. `empty`: nothing in the issue is in those
    categories, so its readers get no mail.
    """

    __tablename__ = "issue_variants"
    __table_args__ = (UniqueConstraint("issue_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1000))
    empty: Mapped[bool] = mapped_column(default=False)
    rendered_subject: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")


class WelcomeSettings(Base):
    """What editors decide about the welcome mail; a single row (id 1), made on first read."""

    __tablename__ = "welcome_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Empty: "Welcome to <newsletter name>".
    subject: Mapped[str] = mapped_column(String(300), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    # Before any issue went out, the welcome carries the comparisons of this many days.
    catchup_days: Mapped[int] = mapped_column(default=14)
    # On: comparisons a reader got in their welcome are left out of their next issue.
    # Off (the default): the next issue is the same for everyone.
    counts_as_sent: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WelcomeStatus(StrEnum):
    """One subscriber's welcome mail, at most one ever.

        (confirm) ──▶ pending ──claim (lease)──▶ sending ──relay accepted──▶ sent
                         ▲                         │ ├──4xx / connection lost──▶ deferred ──due──▶ (claimed again)
                         │                         │ ├──5xx at RCPT──▶ bounced (the address is suppressed)
                         │                         │ ├──message refused, or the last attempt failed──▶ failed
                         │                         │ ├──no longer confirmed, or the welcome turned off──▶ skipped
                         │                         │ └──nothing in their categories to carry──▶ empty
                         └──lease expired (worker died): claimed again──┘

    `sent`, `bounced`, `failed`, `skipped` and `empty` are final: nothing is ever
    sent for such a row again. Every write of a status is in `readers.welcome`.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"
    SKIPPED = "skipped"
    EMPTY = "empty"

    # Waiting for a worker (when `next_attempt_at` has come).
    WAITING: ClassVar[tuple[WelcomeStatus, ...]]
    # Never sent again.
    FINAL: ClassVar[tuple[WelcomeStatus, ...]]


WelcomeStatus.WAITING = (WelcomeStatus.PENDING, WelcomeStatus.DEFERRED)
WelcomeStatus.FINAL = (WelcomeStatus.SENT, WelcomeStatus.BOUNCED, WelcomeStatus.FAILED, WelcomeStatus.SKIPPED,
                       WelcomeStatus.EMPTY)


class Welcome(Base):
    """The welcome ledger: one row per subscriber, made when they confirm.

    Like an issue's `deliveries` row it is the truth and a Celery message only a
    hint; `lease_expires_at` bounds how long a claim by a worker that died can
    hold it. What it carried is kept (`source_issue_id`, `comparison_ids`) for the
    "counts as already sent" setting; `applied_issue_id` is the one issue it was
    taken off, so it is applied to their next issue only.
    """

    __tablename__ = "welcomes"
    __table_args__ = (
        enum_check("status", WelcomeStatus),
        Index("ix_welcomes_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=WelcomeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    last_reply: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]
    source_issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    # The comparisons it carried, ids in the mail's order: "12,9,4".
    comparison_ids: Mapped[str] = mapped_column(Text, default="")
    applied_issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
