"""The dev mail catcher's inbox page shows what the service sent."""
from conftest import csrf_token


def test_inbox_is_absent_unless_configured(client):
    assert client.get("/inbox/").status_code == 404


def test_inbox_lists_and_shows_caught_mail(make_app, smtp, celery_worker_for):
    app = make_app(MAIL_CATCHER_DIR=str(smtp.directory))
    client = app.test_client()
    with celery_worker_for(app):
        client.post("/subscribe", data={"csrf_token": csrf_token(client), "email": "reader@example.com", "name": "<b>R</b>"})
        [mail] = smtp.wait_for(1)

    listing = client.get("/inbox/").get_data(as_text=True)
    assert "reader@example.com" in listing
    assert f'/inbox/{mail.key}' in listing

    page = client.get(f"/inbox/{mail.key}").get_data(as_text=True)
    assert "Confirm your subscription" in page
    assert "List-Unsubscribe" in page  # headers are shown
    assert "&lt;b&gt;R&lt;/b&gt;" in page and "<b>R</b>" not in page  # text part shown escaped
    html = client.get(f"/inbox/{mail.key}/html")
    assert html.headers["Content-Security-Policy"].startswith("sandbox ")
    assert "Confirm my subscription" in html.get_data(as_text=True)
    assert client.get("/inbox/no-such-key").status_code == 404
