"""Subscribers in bulk and one at a time, for the audience tests."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, text

from newsletter.db import utcnow
from newsletter.models import Subscriber, SubscriberStatus

STATUSES = [status.value for status in SubscriberStatus]


def bulk_subscribers(session, count: int, *, prefix: str = "reader", start: int = 0,
                     created: datetime | None = None) -> None:
    """`count` subscribers, statuses in turn, each one second newer than the last:
    `prefix{i:06d}@example.com`. One INSERT ... SELECT on PostgreSQL, executemany
    elsewhere."""
    base = created or utcnow() - timedelta(days=30)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_PG_BULK), {"prefix": prefix, "first": start, "last": start + count - 1,
                                         "base": base.replace(tzinfo=None), "statuses": STATUSES})
        session.flush()
        return
    rows = []
    for i in range(start, start + count):
        status = STATUSES[i % len(STATUSES)]
        at = base + timedelta(seconds=i)
        email = f"{prefix}{i:06d}@example.com"
        rows.append({
            "email": email, "email_key": email, "name": f"Reader {i}", "status": status, "created_at": at,
            "updated_at": at, "requested_at": at, "request_ip": "192.0.2.1", "request_user_agent": "bulk",
            "confirmed_at": at if status == SubscriberStatus.CONFIRMED else None, "confirm_ip": "",
            "confirm_user_agent": "", "bounce_reason": "", "confirm_nonce": "",
            "unsubscribe_token": f"u-{prefix}-{i}", "manage_token": f"m-{prefix}-{i}",
        })
        if len(rows) == 10_000:
            session.execute(insert(Subscriber), rows)
            rows = []
    if rows:
        session.execute(insert(Subscriber), rows)
    session.flush()


_PG_BULK = """
INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, requested_at, request_ip,
    request_user_agent, confirmed_at, confirm_ip, confirm_user_agent, bounce_reason, confirm_nonce,
    unsubscribe_token, manage_token, confirm_mail_attempts, consent_source)
SELECT e, e, 'Reader ' || i, st, at, at, at, '192.0.2.1', 'bulk', CASE WHEN st = 'confirmed' THEN at END, '', '', '',
    '', 'u-' || :prefix || '-' || i, 'm-' || :prefix || '-' || i, 0, ''
FROM (SELECT i, :prefix || lpad(i::text, 6, '0') || '@example.com' AS e,
             (CAST(:statuses AS text[]))[1 + i % cardinality(CAST(:statuses AS text[]))] AS st,
             CAST(:base AS timestamp) + i * interval '1 second' AS at
      FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS i) AS g
"""


def make_subscriber(session, email: str = "ada@example.com", *, status: str = SubscriberStatus.CONFIRMED,
                    name: str = "Ada", **extra) -> Subscriber:
    now = utcnow()
    values = dict(email=email, email_key=email.lower(), name=name, status=status, request_ip="203.0.113.9",
                  request_user_agent="Mozilla/5.0 (ada)", unsubscribe_token=f"u-{email}")
    if status == SubscriberStatus.CONFIRMED:
        values.update(confirmed_at=now, confirm_ip="198.51.100.4", confirm_user_agent="Mozilla/5.0 (ada confirms)")
    values.update(extra)
    subscriber = Subscriber(**values)
    session.add(subscriber)
    session.flush()
    return subscriber
