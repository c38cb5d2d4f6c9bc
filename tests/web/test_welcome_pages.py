"""The editors' welcome page: CSRF-protected settings that are checked before anything
is stored, and a sandboxed preview of the welcome a reader confirming now would get."""
from __future__ import annotations

from conftest import csrf_token
from sqlalchemy import select
from support.audience import make_subscriber
from support.issues import make_comparison

from newsletter.audience import tokens
from newsletter.db import utcnow
from newsletter.models import SubscriberStatus, Welcome
from newsletter.readers import welcome_mail

FORM = {"enabled": "1", "subject": "Glad you're here", "intro": "Hello <reader>.", "catchup_days": "5",
        "counts_as_sent": "1"}


def stored(db):
    with db.session() as session:
        row = welcome_mail.get_settings(session)
        session.commit()
        return row.enabled, row.subject, row.intro, row.catchup_days, row.counts_as_sent


def post(client, **form):
    return client.post("/editor/welcome", data={"csrf_token": csrf_token(client, "/editor/welcome"), **form},
                       follow_redirects=True)


def test_needs_login(client):
    for path in ("/editor/welcome", "/editor/welcome/preview.html"):
        response = client.get(path)
        assert response.status_code == 302 and "/editor/login" in response.headers["Location"]
    assert client.post("/editor/welcome", data=FORM).status_code in (302, 400)


def test_defaults_then_saved_and_shown_escaped(editor_client, db):
    page = editor_client.get("/editor/welcome").get_data(as_text=True)
    assert 'id="enabled" name="enabled" value="1" checked' in page
    assert 'id="counts_as_sent" name="counts_as_sent" value="1">' in page  # off by default
    assert 'value="14"' in page and 'id="preview-empty"' in page
    html = post(editor_client, **FORM).get_data(as_text=True)
    assert "The welcome mail is saved." in html
    assert stored(db) == (True, "Glad you're here", "Hello <reader>.", 5, True)
    assert "Hello &lt;reader&gt;." in html and "Hello <reader>" not in html
    post(editor_client, subject="", intro="", catchup_days="14")  # unticked boxes are "off"
    assert stored(db) == (False, "", "", 14, False)


def test_bad_input_and_missing_csrf_store_nothing(editor_client, db):
    post(editor_client, **FORM)
    for bad in ({"catchup_days": "0"}, {"catchup_days": "a week"}, {"subject": "x" * 301}):
        html = post(editor_client, **(FORM | {"subject": "Changed"} | bad)).get_data(as_text=True)
        assert "Not saved:" in html
        assert stored(db) == (True, "Glad you're here", "Hello <reader>.", 5, True)
    response = editor_client.post("/editor/welcome", data=FORM | {"subject": "No token"})
    assert response.status_code == 400 and stored(db)[1] == "Glad you're here"


def test_preview_shows_the_welcome_in_a_sandboxed_frame(editor_client, db):
    with db.session() as session:
        make_comparison(session, "Pen", "Quill", published_at=utcnow())
        session.commit()
    post(editor_client, **FORM)
    page = editor_client.get("/editor/welcome").get_data(as_text=True)
    assert 'id="preview-subject">Glad you&#39;re here</strong>' in page and "from the last 5 days" in page
    assert 'src="/editor/welcome/preview.html"' in page and 'sandbox="allow-popups' in page
    frame = editor_client.get("/editor/welcome/preview.html")
    assert frame.headers["Content-Security-Policy"].startswith("sandbox allow-popups")
    body = frame.get_data(as_text=True)
    assert "Pen vs Quill" in body and "ed@example.com" in body and "/preview-link/unsubscribe" in body
    assert "__UNSUBSCRIBE_URL__" not in body


def test_confirming_asks_for_one_welcome_and_resubscribing_for_none(client, db, settings):
    with db.session() as session:
        ada = make_subscriber(session, status=SubscriberStatus.PENDING, confirm_nonce="n1")
        session.commit()
    path = "/confirm/" + tokens.make_confirm_token(settings.secret_key, ada.id, "n1")
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 200
    unsubscribe = f"/unsubscribe/{ada.id}/{ada.unsubscribe_token}"
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    token = csrf_token(client)  # the session's token, as the unsubscribed page's form has it
    assert client.post(f"/resubscribe/{ada.id}/{ada.unsubscribe_token}", data={"csrf_token": token}).status_code == 200
    with db.session() as session:
        rows = session.scalars(select(Welcome)).all()
    assert [(r.subscriber_id, r.status) for r in rows] == [(ada.id, "pending")]
    data = client.get(f"/manage/{ada.id}/{ada.manage_token}/data.json").get_json(force=True)
    assert data["welcome"]["status"] == "pending" and data["welcome"]["sent_at"] is None
