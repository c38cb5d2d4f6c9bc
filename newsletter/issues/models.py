from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..comparisons.models import Comparison, Reviewer
from ..db import Base, enum_check, quoted, utcnow


class IssueStatus(StrEnum):
    """The weekly issue's state machine.

        draft ──schedule──▶ scheduled ──due (one conditional UPDATE)──▶ sending ──▶ sent
          ▲                     │                                       │  ▲
          └──────cancel─────────┘                                 pause │  │ resume
        draft ──nothing to send at send time──▶ skipped                 ▼  │
                                                                       paused
        sending / paused ──cancel──▶ cancelled
        sending ──every message refused, none delivered──▶ failed

    At most one issue is `draft` or `scheduled` at a time ("the upcoming issue"):
    the draft rules keep it so, and a partial unique index makes any slip an error.
    From `sending` on, the rendered content (`html`, `text`, `rendered_subject`)
    is frozen. Every move between states is one row of `issues.lifecycle.TRANSITIONS`.
    """

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"

    # Editors may still change it; at most one issue is upcoming.
    UPCOMING: ClassVar[tuple[IssueStatus, ...]]
    # Delivery started: its comparisons reached readers, and the content is frozen.
    WENT_OUT: ClassVar[tuple[IssueStatus, ...]]
    # A send in progress, that editors can steer.
    LIVE: ClassVar[tuple[IssueStatus, ...]]
    # Delivery started at some point: it has a delivery report.
    DELIVERED: ClassVar[tuple[IssueStatus, ...]]
    # Shown in the public archive: what went out in full.
    PUBLIC: ClassVar[tuple[IssueStatus, ...]]


IssueStatus.UPCOMING = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)
IssueStatus.WENT_OUT = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)
IssueStatus.LIVE = (IssueStatus.SENDING, IssueStatus.PAUSED)
IssueStatus.DELIVERED = IssueStatus.LIVE + (IssueStatus.SENT, IssueStatus.FAILED, IssueStatus.CANCELLED)
IssueStatus.PUBLIC = (IssueStatus.SENT,)


class IntroFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


UPCOMING = text(f"status IN ({quoted(IssueStatus.UPCOMING)})")


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        enum_check("status", IssueStatus),
        enum_check("intro_format", IntroFormat),
        # "At most one upcoming issue", kept by the database: over the draft and
        # scheduled rows the indexed expression is always true, and it is unique.
        Index("uq_issues_one_upcoming", text(f"({UPCOMING.text})"), unique=True, postgresql_where=UPCOMING,
              sqlite_where=UPCOMING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(20), default=IssueStatus.DRAFT, index=True)
    subject: Mapped[str] = mapped_column(String(300), default="")
    preheader: Mapped[str] = mapped_column(String(300), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    intro_format: Mapped[str] = mapped_column(String(10), default=IntroFormat.TEXT)
    scheduled_at: Mapped[datetime | None] = mapped_column(index=True)
    checks_overridden: Mapped[bool] = mapped_column(default=False)
    skip_reason: Mapped[str] = mapped_column(String(500), default="")
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sending_started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    # Frozen at the move to `sending`; per recipient only personal parts change.
    rendered_subject: Mapped[str] = mapped_column(String(300), default="")
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # The archive's web version: the same issue rendered with no personal parts.
    web_html: Mapped[str] = mapped_column(Text, default="")

    items: Mapped[list[IssueItem]] = relationship(
        back_populates="issue", order_by="IssueItem.position", cascade="all, delete-orphan"
    )


class IssueItem(Base):
    """A comparison in an issue, in the editor's order, with the featured quotes."""

    __tablename__ = "issue_items"
    __table_args__ = (UniqueConstraint("issue_id", "comparison_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(default=0)
    featured_reviewer_a: Mapped[str] = mapped_column(String(20), default=Reviewer.BUILDER)
    featured_reviewer_b: Mapped[str] = mapped_column(String(20), default=Reviewer.BUILDER)
    # Dropped by an editor: kept, so the draft step does not add it back.
    dropped: Mapped[bool] = mapped_column(default=False)

    issue: Mapped[Issue] = relationship(back_populates="items")
    comparison: Mapped[Comparison] = relationship()


class SendSchedule(Base):
    """The weekly slot; a single row (id 1)."""

    __tablename__ = "send_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(default=1)  # Monday = 0, so Tuesday
    send_time: Mapped[time] = mapped_column(default=time(9, 0))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
