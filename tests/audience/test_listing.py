"""The subscribers list: keyset pages, prefix search, status filter, counts, the weekly chart."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import DATABASE
from sqlalchemy import select, text
from support.audience import STATUSES, bulk_subscribers, make_subscriber

from newsletter.audience import listing
from newsletter.models import Subscriber, SubscriberStatus

# PostgreSQL is what production runs: 100,000 rows there; SQLite (dev) gets fewer.
ROWS = 20_000 if DATABASE == "sqlite" else 100_000


@pytest.fixture
def hundred_thousand(db):
    with db.session() as session:
        bulk_subscribers(session, ROWS)
        session.commit()
        if db.is_postgresql:
            session.execute(text("ANALYZE subscribers"))
            session.commit()


def walk(session, **filters) -> list[int]:
    ids, before = [], None
    while True:
        page = listing.page(session, before=before, size=1000, **filters)
        ids += [row.id for row in page.rows]
        if page.next_before is None:
            return ids
        before = page.next_before


def test_keyset_pages_cover_every_subscriber_once_newest_first(hundred_thousand, session):
    ids = walk(session)
    assert len(ids) == ROWS == len(set(ids))
    assert ids == sorted(ids, reverse=True)
    first = listing.page(session)
    assert len(first.rows) == listing.PAGE_SIZE and first.rows[0].email == f"reader{ROWS - 1:06d}@example.com"
    # A page deep in the list is the same rows as walking there.
    deep = listing.page(session, before=ids[ROWS // 2 - 1], size=50)
    assert [row.id for row in deep.rows] == ids[ROWS // 2:ROWS // 2 + 50]


def test_status_filter_pages(hundred_thousand, session):
    ids = walk(session, status="unsubscribed")
    expected = session.scalars(select(Subscriber.id).where(Subscriber.status == "unsubscribed")
                               .order_by(Subscriber.id.desc())).all()
    assert ids == list(expected) and len(ids) == sum(1 for i in range(ROWS) if STATUSES[i % len(STATUSES)] == "unsubscribed")


def test_prefix_search_is_case_insensitive_and_literal(hundred_thousand, session):
    page = listing.page(session, query="  READER0199 ")
    assert [row.email for row in page.rows] == [f"reader0199{i:02d}@example.com" for i in range(99, 49, -1)]
    assert len(walk(session, query="READER0199")) == 100
    assert walk(session, query="reader0199", status="confirmed") == [
        row.id for row in session.scalars(select(Subscriber).where(Subscriber.email_key.like("reader0199%"),
                                                                   Subscriber.status == "confirmed")
                                          .order_by(Subscriber.id.desc()))]
    # LIKE's wildcards are searched for as themselves.
    assert listing.page(session, query="reader%").rows == []
    assert listing.page(session, query="reader_").rows == []


@pytest.mark.postgresql_only
def test_the_page_queries_use_indexes_at_scale(hundred_thousand, session):
    """The plan, not a timing: each filter of the list is served by an index."""
    def plan(sql: str) -> str:
        return "\n".join(row[0] for row in session.execute(text("EXPLAIN " + sql)))

    session.execute(text("UPDATE subscribers SET status = CASE WHEN id % 1000 = 0 THEN 'bounced' ELSE 'pending' END "
                         "WHERE status = 'bounced' OR id % 1000 = 0"))
    session.commit()
    session.execute(text("ANALYZE subscribers"))
    rare = plan("SELECT * FROM subscribers WHERE status = 'bounced' AND id < 90000 ORDER BY id DESC LIMIT 51")
    assert "ix_subscribers_status_id" in rare and "Sort" not in rare and "Seq Scan" not in rare
    common = plan("SELECT * FROM subscribers WHERE status = 'pending' AND id < 90000 ORDER BY id DESC LIMIT 51")
    assert "Sort" not in common and "Seq Scan" not in common
    by_prefix = plan("SELECT * FROM subscribers WHERE email_key LIKE 'reader0999%' ORDER BY id DESC LIMIT 51")
    assert "ix_subscribers_email_key_prefix" in by_prefix and "Seq Scan" not in by_prefix
    newest = plan("SELECT * FROM subscribers WHERE id < 50000 ORDER BY id DESC LIMIT 51")
    assert "pk_subscribers" in newest and "Sort" not in newest and "Seq Scan" not in newest


def test_counts_name_every_state(session):
    make_subscriber(session, "a@example.com")
    make_subscriber(session, "b@example.com", status=SubscriberStatus.PENDING)
    make_subscriber(session, "c@example.com", status=SubscriberStatus.PENDING)
    counts = listing.counts(session)
    assert list(counts) == [status.value for status in SubscriberStatus]
    assert counts["confirmed"] == 1 and counts["pending"] == 2 and counts["unsubscribed"] == 0


def test_confirmed_per_week_counts_twelve_weeks_oldest_first(session):
    now = datetime(2026, 3, 11, 12, 0, tzinfo=timezone.utc)  # a Wednesday
    for i, days_ago in enumerate([0, 1, 2, 8, 70, 90]):
        make_subscriber(session, f"w{i}@example.com", confirmed_at=now - timedelta(days=days_ago))
    weeks = listing.confirmed_per_week(session, 12, now)
    assert len(weeks) == 12 and weeks[-1][0] == datetime(2026, 3, 9, tzinfo=timezone.utc)
    assert [n for _, n in weeks][-2:] == [1, 3]
    assert weeks[0][0] == datetime(2025, 12, 22, tzinfo=timezone.utc)
    assert sum(n for _, n in weeks) == 5  # 90 days ago is before the first week


def test_bad_queries_are_refused(session):
    with pytest.raises(listing.BadListQuery):
        listing.page(session, status="nonsense")
    with pytest.raises(listing.BadListQuery):
        listing.page(session, query="x" * 300)
