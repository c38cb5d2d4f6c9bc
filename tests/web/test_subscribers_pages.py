"""The editor's subscriber pages: list, search, filter, pages, one subscriber, and
each action behind its confirmation page and CSRF token."""
from __future__ import annotations

import re
from collections import Counter

import pytest
from conftest import csrf_token
from sqlalchemy import select
from support.audience import STATUSES, bulk_subscribers, make_subscriber

from newsletter.db import utcnow
from newsletter.models import Delivery, Erasure, Issue, IssueStatus, Subscriber, SubscriberStatus


@pytest.fixture
def ada(db) -> int:
    with db.session() as session:
        subscriber = make_subscriber(session, "Ada.Lovelace@example.com", name="Ada <b>L</b>")
        session.commit()
        return subscriber.id


def html(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def listed(page: str) -> list[str]:
    return re.findall(r'<td><a href="/editor/subscribers/\d+">([^<]+)</a></td>', page)


def test_the_pages_need_a_login(client, ada):
    for path in ("/editor/subscribers", f"/editor/subscribers/{ada}", f"/editor/subscribers/{ada}/erase",
                 "/editor/subscribers/export.csv", "/editor/subscribers/import"):
        assert client.get(path).status_code == 302
    assert client.post(f"/editor/subscribers/{ada}/erase", data={"confirmed": "erase"}).status_code in (302, 400)


def test_list_searches_filters_and_pages(editor_client, db):
    with db.session() as session:
        bulk_subscribers(session, 230)
        make_subscriber(session, "Zoe@example.com")
        session.commit()
    page = html(editor_client, "/editor/subscribers")
    assert listed(page)[0] == "Zoe@example.com" and len(listed(page)) == 50
    expected = Counter(STATUSES[i % len(STATUSES)] for i in range(230)) + Counter(confirmed=1)  # and Zoe
    for status in STATUSES:  # every state of the enum is a filter with its count
        assert f"{status} ({expected[status]})" in page, status
    # Newest first, then older pages by keyset until the end.
    seen, path = [], "/editor/subscribers?status=pending"
    while path:
        page = html(editor_client, path)
        seen += listed(page)
        match = re.search(r'id="next-page" href="([^"]+)"', page)
        path = match.group(1).replace("&amp;", "&") if match else None
    def readers(status, numbers):
        return [f"reader{i:06d}@example.com" for i in sorted(numbers, reverse=True)
                if STATUSES[i % len(STATUSES)] == status]

    assert seen == readers("pending", range(230)) and len(seen) == expected["pending"] > 40
    assert listed(html(editor_client, "/editor/subscribers?q=ZOE")) == ["Zoe@example.com"]
    assert listed(html(editor_client, "/editor/subscribers?q=reader00010&status=confirmed")) == \
        readers("confirmed", range(100, 110))
    assert "No subscribers whose address starts with" in html(editor_client, "/editor/subscribers?q=nobody")
    assert editor_client.get("/editor/subscribers?status=nonsense").status_code == 302


def test_subscriber_page_shows_consent_history_and_escapes(editor_client, db, ada):
    with db.session() as session:
        issue = Issue(number=3, status=IssueStatus.SENT, rendered_subject="Three verdicts")
        session.add(issue)
        session.flush()
        session.add(Delivery(issue_id=issue.id, subscriber_id=ada, status="sent", attempts=1, sent_at=utcnow(),
                             last_reply="250 2.0.0 Ok"))
        session.commit()
    page = html(editor_client, f"/editor/subscribers/{ada}")
    assert "Ada.Lovelace@example.com" in page and "Ada &lt;b&gt;L&lt;/b&gt;" in page and "<b>L</b>" not in page
    assert "203.0.113.9" in page and "Mozilla/5.0 (ada confirms)" in page and "198.51.100.4" in page
    assert "#3</a> Three verdicts" in page and "250 2.0.0 Ok" in page
    assert 'id="action-unsubscribe"' in page and 'id="action-erase"' in page and 'id="action-resend"' not in page
    assert editor_client.get("/editor/subscribers/999999").status_code == 404


def post_action(client, subscriber_id: int, action: str, token: str | None = "page", confirmed: str | None = None):
    data = {"confirmed": action if confirmed is None else confirmed}
    if token == "page":
        data["csrf_token"] = csrf_token(client, f"/editor/subscribers/{subscriber_id}/{action}")
    elif token:
        data["csrf_token"] = token
    return client.post(f"/editor/subscribers/{subscriber_id}/{action}", data=data)


def status_of(db, subscriber_id: int) -> str | None:
    with db.session() as session:
        return session.scalar(select(Subscriber.status).where(Subscriber.id == subscriber_id))


@pytest.mark.parametrize("action", ["unsubscribe", "erase"])
def test_actions_refuse_without_csrf_or_confirmation(editor_client, db, ada, action):
    assert post_action(editor_client, ada, action, token=None).status_code == 400
    assert post_action(editor_client, ada, action, token="forged").status_code == 400
    response = post_action(editor_client, ada, action, confirmed="")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/{ada}/{action}")
    assert status_of(db, ada) == SubscriberStatus.CONFIRMED


def test_the_confirmation_page_says_what_happens(editor_client, ada):
    page = html(editor_client, f"/editor/subscribers/{ada}/erase")
    assert "Erase: Ada.Lovelace@example.com?" in page and "deleted for good" in page
    assert 'name="confirmed" type="hidden" value="erase"' in page


def test_unsubscribe(editor_client, db, ada):
    response = post_action(editor_client, ada, "unsubscribe")
    assert response.status_code == 302
    assert status_of(db, ada) == SubscriberStatus.UNSUBSCRIBED
    assert "Unsubscribed: they get no more issues." in html(editor_client, response.headers["Location"])
    # Not offered again, and refused if posted anyway.
    assert 'id="action-unsubscribe"' not in html(editor_client, f"/editor/subscribers/{ada}")


def test_resend_confirmation_rotates_the_link_and_queues_the_mail(editor_client, db, monkeypatch):
    from workers import audience as audience_tasks

    queued = []
    monkeypatch.setattr(audience_tasks.send_confirmation, "delay", lambda *args: queued.append(args))
    with db.session() as session:
        pending = make_subscriber(session, "pat@example.com", status=SubscriberStatus.PENDING, confirm_nonce="old")
        session.commit()
        pending_id = pending.id
    assert post_action(editor_client, pending_id, "resend").status_code == 302
    with db.session() as session:
        row = session.get(Subscriber, pending_id)
        assert row.confirm_nonce not in ("", "old") and row.confirm_mail_requested_at is not None
    assert queued == [(pending_id,)]
    # A confirmed subscriber has nothing to confirm.
    with db.session() as session:
        confirmed = make_subscriber(session, "con@example.com")
        session.commit()
        confirmed_id = confirmed.id
    post_action(editor_client, confirmed_id, "resend", token=csrf_token(editor_client, "/editor/subscribers"))
    assert queued == [(pending_id,)]


def test_erase_from_the_page(editor_client, db, ada):
    response = post_action(editor_client, ada, "erase")
    assert response.status_code == 302 and response.headers["Location"].endswith("/editor/subscribers")
    with db.session() as session:
        assert session.get(Subscriber, ada) is None
        assert session.scalar(select(Erasure.requested_by)) == "editor"
    assert "is erased" in html(editor_client, "/editor/subscribers")
    assert editor_client.get(f"/editor/subscribers/{ada}").status_code == 404


def test_dashboard_shows_the_audience_and_twelve_weeks(editor_client, db):
    from datetime import timedelta

    with db.session() as session:
        for i in range(3):
            make_subscriber(session, f"new{i}@example.com")
        make_subscriber(session, "old@example.com", confirmed_at=utcnow() - timedelta(weeks=3))
        make_subscriber(session, "p@example.com", status=SubscriberStatus.PENDING)
        session.commit()
    page = html(editor_client, "/editor/")
    for status in SubscriberStatus:
        assert f'data-status="{status.value}"' in page
    assert "<strong>4</strong> confirmed" in page and "<strong>1</strong> pending" in page
    counts = [int(n) for n in re.findall(r'<rect [^>]*data-count="(\d+)"', page)]
    assert len(counts) == 12 and counts[-1] == 3 and sum(counts) == 4
