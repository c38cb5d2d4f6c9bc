"""The subscriber's own page, reached from the link in their confirmation mail:
rename, download everything, unsubscribe, erase (with a confirmation step)."""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from conftest import csrf_token
from support.audience import make_subscriber

from newsletter.models import Erasure, Subscriber, SubscriberStatus


def manage_path(db, subscriber_id: int) -> str:
    with db.session() as session:
        return f"/manage/{subscriber_id}/{session.get(Subscriber, subscriber_id).manage_token}"


@pytest.fixture
def ada(db) -> int:
    with db.session() as session:
        subscriber = make_subscriber(session, "ada@example.com", name="Ada")
        session.commit()
        return subscriber.id


def test_the_confirmation_mail_links_the_page(client, db, smtp, celery_worker):
    response = client.post("/subscribe", data={"csrf_token": csrf_token(client), "email": "new@example.com",
                                               "name": "New"})
    assert response.status_code == 200
    [mail] = smtp.wait_for(1)
    [url] = re.findall(r"Manage your subscription: (\S+)", mail.text)
    assert url in mail.html and "/manage/" in url
    page = client.get(urlsplit(url).path).get_data(as_text=True)
    assert "new@example.com" in page and "pending" in page


def test_rename_download_and_unsubscribe(client, db, ada):
    path = manage_path(db, ada)
    page = client.get(path).get_data(as_text=True)
    assert 'value="Ada"' in page and 'id="manage-unsubscribe"' in page
    token = csrf_token(client, path)
    assert client.post(path, data={"csrf_token": token, "name": "Ada L."}).status_code == 302
    bad = client.post(path, data={"csrf_token": token, "name": "Ada\r\nBcc: x@example.com"})
    assert bad.status_code == 400 and "line breaks" in bad.get_data(as_text=True)
    download = client.get(path + "/data.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["subscriber"]["email"] == "ada@example.com" and data["subscriber"]["name"] == "Ada L."
    assert data["subscriber"]["request_ip"] == "203.0.113.9" and data["issues_received"] == []
    assert client.post(path + "/unsubscribe", data={"csrf_token": token}).status_code == 302
    with db.session() as session:
        assert session.get(Subscriber, ada).status == SubscriberStatus.UNSUBSCRIBED


def test_every_post_needs_csrf_and_the_right_token(client, db, ada):
    path = manage_path(db, ada)
    assert client.post(path, data={"name": "Mallory"}).status_code == 400
    assert client.post(path + "/unsubscribe").status_code == 400
    assert client.post(path + "/erase", data={"confirmed": "erase"}).status_code == 400
    wrong = f"/manage/{ada}/not-the-token"
    assert client.get(wrong).status_code == 404 and client.get(wrong + "/data.json").status_code == 404
    token = csrf_token(client, path)
    assert client.post(wrong + "/erase", data={"csrf_token": token, "confirmed": "erase"}).status_code == 404
    with db.session() as session:
        assert session.get(Subscriber, ada).status == SubscriberStatus.CONFIRMED and session.get(Subscriber, ada).name == "Ada"


def test_erase_myself_after_a_confirmation_step(client, db, ada):
    path = manage_path(db, ada)
    confirm = client.get(path + "/erase").get_data(as_text=True)
    assert "Erase ada@example.com?" in confirm and "cannot be undone" in confirm
    token = csrf_token(client, path + "/erase")
    # Without the confirmation page's field, nothing happens.
    assert client.post(path + "/erase", data={"csrf_token": token}).status_code == 302
    with db.session() as session:
        assert session.get(Subscriber, ada) is not None
    done = client.post(path + "/erase", data={"csrf_token": token, "confirmed": "erase"})
    assert done.status_code == 200 and "You are erased" in done.get_data(as_text=True)
    with db.session() as session:
        assert session.get(Subscriber, ada) is None
        assert session.scalar(sa.select(Erasure.requested_by)) == "subscriber"
    assert client.get(path).status_code == 404
