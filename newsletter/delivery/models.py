from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import BigInteger, ColumnElement, ForeignKey, Index, Integer, String, Text, UniqueConstraint, \
    literal_column
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, enum_check, utcnow


class DeliveryStatus(StrEnum):
    """One recipient's copy of one issue.

        pending ──claim──▶ sending ──250──▶ sent ──bounce reported later──▶ bounced
           ▲                 │ ├──4xx / connection error──▶ deferred ──due──▶ (claimed again)
           │                 │ ├──5xx at RCPT──▶ bounced (address suppressed)
           │                 │ ├──last attempt failed──▶ failed
           │                 │ └──no longer confirmed at claim──▶ skipped
           └──lease expired (worker died)──┘
        pending ──their categories have nothing in the issue (at the snapshot)──▶ empty

    `empty` is no failure: the reader asked not to hear about anything this issue
    holds, so they get no mail, and the report counts them apart.

    The row is the truth; a Celery message is only a hint that rows are due.
    `lease_expires_at` bounds how long a claimed row can stay `sending`. A relay
    that accepted a copy may still bounce it minutes or days later (a DSN, a
    webhook): `feedback` then moves the row from `sent` to `bounced`, so the
    issue's counts and its bounce rate say what really happened. Every write of a
    status is in `delivery.ledger` (and `delivery.control` for a cancel).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"
    SKIPPED = "skipped"
    EMPTY = "empty"

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
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    # NULL once the subscriber was erased: the row stays, anonymised, so the
    # issue's counts stay right (see `delivery.recipient.erase_person`).
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # How often the receiving side said "slow down" (421, 4.7.x) to this copy: a
    # throttle hands the attempt back, so `attempts` does not count it.
    throttles: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[datetime | None]
    last_reply: Mapped[str] = mapped_column(Text, default="")
    # The subscriber's categories key at the snapshot: which frozen variant they get
    # ("" is the whole issue).
    variant: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    # The recipient's receiving-domain group at the snapshot (`delivery.pacing`): rows
    # are claimed per group, so a throttled group waits in its own lane.
    pacing_group: Mapped[str] = mapped_column(String(40), default="other", server_default="other")
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def status_in(*statuses: DeliveryStatus) -> ColumnElement[bool]:
    """`status IN (…)` with the statuses written into the SQL, as the partial indexes'
    predicates have them: a planner matches a partial index to literal values only
    (PostgreSQL's generic plans and SQLite's never see a bound parameter's value)."""
    return Delivery.status.in_([literal_column(f"'{status.value}'") for status in statuses])


# The queue's indexes hold only the rows still owed (partial), one index for each
# question the queue asks: which rows of a group are due (the claim, and the due
# counts by issue), and which rows are in a worker's hands under which lease (the
# claim's read-back, the sweeper). A copy is written to three indexes when claimed
# and two when sent, instead of four each time, and a finished issue's million rows
# stay out of them for good. Every query for waiting or in-hand rows uses
# `status_in` with the same statuses, so the planners can use these indexes.
Index("ix_deliveries_waiting", Delivery.issue_id, Delivery.pacing_group, Delivery.next_attempt_at,
      postgresql_where=status_in(*DeliveryStatus.WAITING), sqlite_where=status_in(*DeliveryStatus.WAITING))
Index("ix_deliveries_sending", Delivery.issue_id, Delivery.lease_expires_at,
      postgresql_where=status_in(DeliveryStatus.SENDING), sqlite_where=status_in(DeliveryStatus.SENDING))


class DeliverySnapshot(Base):
    """How far an issue's audience snapshot has come (`delivery.snapshot`): subscribers
    with ids up to `upto` (the highest there was when it started) are taken a chunk at
    a time, `cursor` the last id taken. Complete once `cursor` reaches `upto`."""

    __tablename__ = "delivery_snapshots"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True,
                                          autoincrement=False)
    upto: Mapped[int]
    cursor: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryRollup(Base):
    """What retention kept of an old issue's unremarkable rows: how many copies of each
    variant ended in each state, and when the last one was accepted.

    A finished issue's `sent`, `empty` and `skipped` rows are deleted once it is old
    (`delivery.retention`); the report adds these counts to the rows still there, so
    the numbers shown never change. Every count here was added in the transaction
    that deleted its rows, which is what makes a second run add nothing.
    """

    __tablename__ = "delivery_rollups"
    __table_args__ = (
        UniqueConstraint("issue_id", "variant", "status"),
        enum_check("status", DeliveryStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    variant: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    status: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sent_at: Mapped[datetime | None]
