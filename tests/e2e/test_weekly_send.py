"""The whole weekly path with nothing faked: the scheduler's due-scan on a real worker
hands the issue to the delivery engine, every confirmed subscriber receives it with
their own unsubscribe and manage links, and the unsubscribe link's one-click POST works."""
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from support.delivery import make_subscribers, purge_broker, recipients
from support.issues import make_comparison

from newsletter.db import utcnow
from newsletter.issues import drafts, scheduling
from newsletter.models import Issue, IssueStatus, Subscriber, SubscriberStatus


def wait_until(predicate, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.worker
def test_scheduled_issue_reaches_every_confirmed_subscriber(app, db, settings, client, smtp, celery_app,
                                                            celery_worker):
    purge_broker(celery_app)
    now = utcnow()
    with db.session() as session:
        make_subscribers(session, 3)
        session.add(Subscriber(email="left@example.com", email_key="left@example.com",
                               status=SubscriberStatus.UNSUBSCRIBED, unsubscribe_token="t" * 43))
        make_comparison(session, "Alpha Code", "Beta Pilot", published_at=now - timedelta(days=2))
        make_comparison(session, "Gamma Chat", "Delta Docs", published_at=now - timedelta(days=1))
        issue = drafts.refresh_draft(session, now - timedelta(hours=1)).issue
        scheduling.schedule(session, issue, now + timedelta(seconds=1), settings, now=now - timedelta(minutes=1))
        issue_id = issue.id
        session.commit()

    from workers.issues import start_due_issues

    wait_until(lambda: utcnow() > now + timedelta(seconds=1), timeout=5)
    start_due_issues.delay()

    def finished():
        with db.session() as session:
            return session.get(Issue, issue_id).status == IssueStatus.SENT

    wait_until(finished)
    smtp.wait_for(3)
    assert recipients(smtp) == {f"reader{i:05d}@example.com": 1 for i in range(3)}

    with db.session() as session:
        subscribers = {s.email: s for s in session.scalars(select(Subscriber))}
    for mail in smtp.messages():
        subscriber = subscribers[mail.envelope_to[0]]
        link = f"{app.extensions['settings'].base_url}/unsubscribe/{subscriber.id}/{subscriber.unsubscribe_token}"
        assert mail.message["List-Unsubscribe"] == f"<{link}>"
        assert link in mail.html and link in mail.text
        manage = f"{app.extensions['settings'].base_url}/manage/{subscriber.id}/{subscriber.manage_token}"
        assert f'href="{manage}"' in mail.html and f"Manage your subscription: {manage}" in mail.text
        assert "Gamma Chat vs Delta Docs" in mail.html and "Alpha Code vs Beta Pilot" in mail.text
        assert subscriber.email in mail.text

    mail = smtp.messages()[0]
    path = urlsplit(mail.message["List-Unsubscribe"].strip("<>")).path
    response = app.test_client(use_cookies=False).post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    with db.session() as session:
        left = session.scalar(select(Subscriber).where(Subscriber.email == mail.envelope_to[0]))
        assert left.status == SubscriberStatus.UNSUBSCRIBED
