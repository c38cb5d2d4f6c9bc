from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


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
