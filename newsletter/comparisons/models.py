from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, enum_check, utcnow


class Reviewer(StrEnum):
    """The panel, in the order it speaks on every page."""

    BUILDER = "builder"
    SKEPTIC = "skeptic"
    FUTURIST = "futurist"
    BUYER = "buyer"


class Verdict(StrEnum):
    """A reviewer's call on a tool; a page does not state it, so `unknown` is for a
    quote that does not say."""

    SHIP = "ship"
    SKIP = "skip"
    UNKNOWN = "unknown"


REVIEWERS = tuple(Reviewer)
VERDICTS = tuple(Verdict)


class Comparison(Base):
    """One "X vs Y" verdict page of the comparison site."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    standfirst: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1000))
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # "Last changed": moves only when the content really changed.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Digest of the normalised content, so a re-import can tell "unchanged" cheaply.
    content_hash: Mapped[str] = mapped_column(String(64), default="")

    tools: Mapped[list[Tool]] = relationship(
        back_populates="comparison", order_by="Tool.position", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Comparison {self.slug}>"


class Tool(Base):
    __tablename__ = "tools"
    __table_args__ = (
        UniqueConstraint("comparison_id", "position"),
        CheckConstraint("position IN (0, 1)", name="position"),
        CheckConstraint("ship_share BETWEEN 0 AND 100", name="ship_share"),
        CheckConstraint(
            "community_vote IS NULL OR community_vote BETWEEN 0 AND 100", name="community_vote"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    position: Mapped[int]  # 0 = tool A, 1 = tool B
    category: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    tagline: Mapped[str] = mapped_column(String(500), default="")
    ship_share: Mapped[int]
    community_vote: Mapped[int | None]  # None: no votes yet
    entry_price: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")

    comparison: Mapped[Comparison] = relationship(back_populates="tools")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="tool", cascade="all, delete-orphan", order_by="Review.position"
    )


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("tool_id", "reviewer"),
        enum_check("reviewer", Reviewer),
        enum_check("verdict", Verdict),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"))
    position: Mapped[int]  # the reviewer's place in the panel, 0-3
    reviewer: Mapped[str] = mapped_column(String(20))
    quote: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(10), default=Verdict.UNKNOWN)

    tool: Mapped[Tool] = relationship(back_populates="reviews")
