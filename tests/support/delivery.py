"""Subscribers and a frozen issue made in bulk, and a driver that plays the scheduler,
for the delivery tests."""
from __future__ import annotations

import secrets
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, insert, select

from newsletter.config import load_settings
from newsletter.db import utcnow
from newsletter.delivery import engine, ledger
from newsletter.mail.rendering import EMAIL_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER
from newsletter.models import Delivery, Issue, IssueStatus, Subscriber, SubscriberStatus

# Short retries so a test sees deferred rows come back within seconds.
FAST_RETRIES = {
    "SEND_RETRY_BASE_SECONDS": "0.2",
    "SEND_RETRY_MAX_SECONDS": "1",
    "SEND_MAX_ATTEMPTS": "30",
}


def address(i: int) -> str:
    return f"reader{i:05d}@example.com"


def make_subscribers(session, count: int, start: int = 0) -> list[int]:
    now = utcnow()
    rows = [
        {
            "email": address(i), "email_key": address(i), "name": "", "status": SubscriberStatus.CONFIRMED,
            "created_at": now, "updated_at": now, "requested_at": now, "confirmed_at": now,
            "unsubscribe_token": secrets.token_urlsafe(24), "request_ip": "", "request_user_agent": "",
            "confirm_ip": "", "confirm_user_agent": "", "bounce_reason": "", "confirm_nonce": "",
        }
        for i in range(start, start + count)
    ]
    session.execute(insert(Subscriber), rows)
    session.flush()
    return list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))


def issue_html(size: int = 4000) -> str:
    """HTML with both placeholders, a line starting with a dot and long lines."""
    filler = "<p>Alpha vs Beta: which one ships? " + "x" * 120 + "</p>\n"
    body = filler * max(1, size // len(filler))
    return (
        "<html><body>\n<p>Hello " + EMAIL_PLACEHOLDER + "</p>\n" + body
        + ".starts with a dot\n<a href=\"" + UNSUBSCRIBE_PLACEHOLDER + "\">Unsubscribe</a>\n</body></html>\n"
    )


def make_sending_issue(session, number: int = 1, html_size: int = 4000, subject: str = "Alpha vs Beta") -> int:
    issue = Issue(
        number=number, status=IssueStatus.SENDING, subject=subject, rendered_subject=subject,
        html=issue_html(html_size),
        text=f"Hello {EMAIL_PLACEHOLDER}\n.a dot line\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}\n",
        sending_started_at=utcnow(),
    )
    session.add(issue)
    session.flush()
    return issue.id


def sent_to(session, count: int) -> tuple[int, list[int], list[int]]:
    """An issue whose copies to `count` new subscribers all went out (committed):
    (issue id, [delivery ids], [subscriber ids]), both in subscriber order."""
    from newsletter.delivery import ledger

    subscribers = make_subscribers(session, count)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.execute(Delivery.__table__.update().values(status="sent", sent_at=utcnow()))
    session.commit()
    deliveries = list(session.scalars(select(Delivery.id).order_by(Delivery.subscriber_id)))
    return issue_id, deliveries, subscribers


def sending_issue_to(session, count: int) -> int:
    """`count` confirmed subscribers and an 8 KB issue in `sending`, committed: a fault test's start."""
    make_subscribers(session, count)
    issue_id = make_sending_issue(session, html_size=8000)
    session.commit()
    return issue_id


# `other` paced at 50/s, gmail in warm-up from 500 a day; retries an hour off (a
# throttle's lane delay is a second or two).
THROTTLED_ENV = {"PACING_LIMITS": "other=50/0; gmail=0/0/500", "SEND_RETRY_BASE_SECONDS": "60"}


def throttled_send(db, smtp, env, count: int = 8) -> int:
    """A send in-process to the test server, which throttles one reader: returns the issue."""
    settings = load_settings(env)
    with db.session() as session:
        make_subscribers(session, count)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id, settings=settings)
        session.commit()
    smtp.refuse[address(3)] = "450 4.7.1 too many messages, slow down"
    for _ in range(2):  # the second run sends what the throttle handed back untried
        engine.run(db, settings, issue_id, budget_seconds=5)
    return issue_id


def status_counts(db, issue_id: int) -> dict[str, int]:
    with db.session() as session:
        return dict(
            session.execute(
                select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
            ).all()
        )


def issue_status(db, issue_id: int) -> str:
    with db.session() as session:
        return session.scalar(select(Issue.status).where(Issue.id == issue_id))


def drive(db, issue_id: int, timeout: float = 60.0, every: float = 0.5, until=("sent", "failed", "paused")) -> str:
    """Run the sweeper every `every` seconds (beat does it every minute) until the issue ends."""
    from workers.delivery import sweep_deliveries

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = issue_status(db, issue_id)
        if status in until:
            return status
        sweep_deliveries.apply()
        time.sleep(every)
    raise AssertionError(f"issue {issue_id} still {issue_status(db, issue_id)} after {timeout}s: "
                         f"{status_counts(db, issue_id)}")


def recipients(smtp) -> Counter:
    """How many messages each address received."""
    return Counter(to.lower() for message in smtp.messages() for to in message.envelope_to)


def take_queued(celery, queue: str) -> list[tuple[str, list]]:
    """Every message waiting in a queue of the real broker, as (task, args), taken off it."""
    taken = []
    with celery.connection_for_read() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            taken.append((message.headers["task"], message.decode()[0]))
    return taken


def purge_broker(celery_app) -> None:
    """Empty every queue, delivered-but-unacknowledged messages included, so a test
    never sees batch tasks (or their countdowns) left over from the one before."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("mail", "bulk", "default"):
            try:
                channel.queue_purge(queue)
            except Exception:  # a queue that was never declared
                pass


# (status, variant, how many) of one finished issue's rows.
ROWS = [("sent", "", 14), ("sent", "ai", 9), ("empty", "ai", 3), ("skipped", "", 2), ("bounced", "", 3),
        ("failed", "ai", 2)]


def make_finished_issue(session, subscribers, number: int, days_ago: float) -> int:
    now = utcnow()
    finished = now - timedelta(days=days_ago)
    issue = Issue(number=number, status=IssueStatus.SENT, subject=f"Issue {number}", rendered_subject="S",
                  html="<p>x</p>", text="x", sending_started_at=finished - timedelta(minutes=10),
                  finished_at=finished)
    session.add(issue)
    session.flush()
    rows, ids = [], iter(subscribers)
    for status, variant, count in ROWS:
        for i in range(count):
            sent = status in ("sent", "bounced")
            rows.append({
                "issue_id": issue.id, "subscriber_id": next(ids), "status": status, "variant": variant,
                "attempts": 1, "next_attempt_at": finished, "updated_at": finished,
                "last_reply": f"550 5.1.1 no such user {i % 2}" if status in ("bounced", "failed") else "250 ok",
                "sent_at": finished - timedelta(minutes=i) if sent else None,
            })
    session.execute(insert(Delivery), rows)
    session.flush()
    return issue.id
