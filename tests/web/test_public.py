"""The reader's and subscriber's pages, through the real app, database and broker."""
import re
import time
from datetime import timedelta

import pytest
from conftest import csrf_token
from sqlalchemy import func, select, update

from newsletter.audience import outbox, tokens
from newsletter.db import utcnow
from newsletter.models import Subscriber, SubscriberStatus

CHECK_INBOX = "Check your inbox"


def subscribers(session):
    session.expire_all()
    return session.scalars(select(Subscriber)).all()


def post_subscribe(client, email, name="", **extra):
    data = {"csrf_token": csrf_token(client), "email": email, "name": name, **extra}
    return client.post("/subscribe", data=data, headers={"User-Agent": "ReaderBrowser/1.0"})


def confirm_link(message) -> str:
    return re.search(r"http://newsletter\.test(/confirm/[^\s\"<]+)", message.text).group(1)


def test_subscribe_page_has_form_and_honeypot(client):
    html = client.get("/subscribe").get_data(as_text=True)
    assert 'name="email"' in html and 'name="name"' in html
    assert 'name="website"' in html and 'class="hp"' in html
    assert client.get("/subscribe").headers["X-Frame-Options"] == "DENY"


def test_embed_may_be_framed_by_the_comparison_site(client):
    response = client.get("/embed")
    assert "Get the next comparison in your inbox" in response.get_data(as_text=True)
    assert "frame-ancestors 'self' https://verdicts.test" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers


def _ticket(client) -> str:
    return re.search(r'name="ticket" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="ticket"',
                     client.get("/embed").get_data(as_text=True)).group(1)


def _framable(response) -> bool:
    return ("X-Frame-Options" not in response.headers
            and "frame-ancestors 'self' https://verdicts.test" in response.headers["Content-Security-Policy"])


def test_embedded_form_works_without_cookies_and_every_answer_may_be_framed(app, client, session):
    """Inside the comparison site's iframe the browser sends no session cookie, and
    the answer to the POST carried X-Frame-Options: DENY: readers saw a browser error."""
    ticket = _ticket(client)
    cookieless = app.test_client(use_cookies=False)
    bad = cookieless.post("/embed", data={"ticket": ticket, "email": "not an address"})
    assert bad.status_code == 400 and _framable(bad)
    assert "not a valid email address" in bad.get_data(as_text=True) and 'name="ticket"' in bad.get_data(as_text=True)
    good = cookieless.post("/embed", data={"ticket": ticket, "email": "framed@example.com"},
                           headers={"Origin": "http://localhost"})
    assert good.status_code == 200 and _framable(good) and CHECK_INBOX in good.get_data(as_text=True)
    assert [s.email for s in subscribers(session)] == ["framed@example.com"]


@pytest.mark.parametrize("ticket, origin", [("", None), ("forged.ticket", None), (None, "https://evil.example")])
def test_embedded_form_refuses_forged_posts(app, client, session, ticket, origin):
    cookieless = app.test_client(use_cookies=False)
    response = cookieless.post("/embed", data={"ticket": ticket if ticket is not None else _ticket(client),
                                               "email": "forged@example.com"},
                               headers={"Origin": origin} if origin else {})
    assert response.status_code == 400 and _framable(response)
    assert "The form expired" in response.get_data(as_text=True)
    assert subscribers(session) == []


def test_subscribe_stores_pending_and_mails_a_confirmation(client, session, smtp, celery_worker):
    response = post_subscribe(client, "  Reader@Example.COM ", "Reader")
    assert response.status_code == 200
    assert CHECK_INBOX in response.get_data(as_text=True)
    [subscriber] = subscribers(session)
    assert subscriber.status == SubscriberStatus.PENDING
    assert subscriber.email == "Reader@example.com"
    assert subscriber.request_user_agent == "ReaderBrowser/1.0"
    assert subscriber.request_ip == "127.0.0.1"
    [mail] = smtp.wait_for(1)
    assert mail.envelope_to == ["Reader@example.com"]
    assert str(mail.message["To"]) == "Reader <Reader@example.com>"
    assert mail.subject == "Confirm your subscription to Weekly AI Tool Verdicts"
    assert confirm_link(mail).startswith("/confirm/")


def test_the_subscribe_post_gives_its_connection_back_transactional(app, client, session):
    """The request sends its one statement outside a transaction; the pooled connection
    it used must roll back again for whichever request gets it next."""
    assert post_subscribe(client, "pooled@example.com").status_code == 200
    engine = app.extensions["db"].engine
    connections = [engine.connect() for _ in range(engine.pool.checkedin())]
    try:
        for number, connection in enumerate(connections):
            connection.execute(update(Subscriber).values(name=f"not kept {number}"))
            connection.rollback()
    finally:
        for connection in connections:
            connection.close()
    assert [s.name for s in subscribers(session)] == [""]


def test_every_state_gets_the_same_answer_and_only_due_mail_is_sent(client, session, smtp, celery_worker):
    first = post_subscribe(client, "same@example.com").get_data(as_text=True)
    smtp.wait_for(1)
    again = post_subscribe(client, "SAME@example.com").get_data(as_text=True)
    [subscriber] = subscribers(session)
    subscriber.status = SubscriberStatus.CONFIRMED
    session.commit()
    confirmed = post_subscribe(client, "same@example.com").get_data(as_text=True)

    def body(html):
        return re.sub(r'value="[^"]*"', "", html)

    assert body(first) == body(again) == body(confirmed)
    assert len(smtp.wait_for(2, timeout=3)) == 1
    assert len(subscribers(session)) == 1


@pytest.mark.parametrize(
    "email, name, message",
    [
        ("not-an-address", "", "not a valid email address"),
        ("", "", "Please enter your email address"),
        ("x" * 250 + "@example.com", "", "longer than 254"),
        ("x" * 65 + "@example.com", "", "before the @-sign can be at most 64 characters"),
        ("no-at-sign.example.com", "", "must have an @-sign.<"),
        ("victim@example.com\r\nBcc: all@example.com", "", "not allowed"),
        ("ok@example.com", "Eve\r\nBcc: all@example.com", "line breaks"),
        ("ok@example.com", "N" * 101, "at most 100"),
    ],
)
def test_bad_input_redisplays_the_form_and_stores_nothing(client, session, smtp, email, name, message):
    response = post_subscribe(client, email, name)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'role="alert"' in html and "<form" in html
    assert subscribers(session) == []
    assert smtp.messages() == []


def test_missing_csrf_token_is_refused(client, session):
    response = client.post("/subscribe", data={"email": "a@example.com"})
    assert response.status_code == 400
    assert subscribers(session) == []


def test_honeypot_looks_like_success_and_is_dropped(client, session, smtp, celery_worker):
    response = post_subscribe(client, "bot@example.com", website="http://spam.example")
    assert response.status_code == 200
    assert CHECK_INBOX in response.get_data(as_text=True)
    assert subscribers(session) == []
    assert smtp.wait_for(1, timeout=2) == []


def test_per_ip_limit_answers_429_with_a_readable_page(make_app, session):
    client = make_app(SUBSCRIBE_RATE_LIMIT="3 per minute").test_client()
    codes = [post_subscribe(client, f"r{i}@example.com").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    response = post_subscribe(client, "r9@example.com")
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many requests" in html and '<a href="/subscribe" id="back">' in html
    assert {s.email for s in subscribers(session)} == {"r0@example.com", "r1@example.com", "r2@example.com"}


def test_every_window_of_the_limit_counts(make_app, session):
    """Both windows are taken in one script call: the hour's bites before the minute's."""
    client = make_app(SUBSCRIBE_RATE_LIMIT="5 per minute;2 per hour").test_client()
    codes = [post_subscribe(client, f"w{i}@example.com").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert "2 per 1 hour" in post_subscribe(client, "w9@example.com").get_data(as_text=True)


def test_a_subscribe_publishes_nothing_and_the_relay_hands_it_over_once(app, client, session, monkeypatch):
    """The outbox row is the only hint: the request sends no broker message; the
    scheduler's relay finds the row and enqueues it once, however often it scans."""
    from workers import audience as tasks

    queued = []
    monkeypatch.setattr(tasks.send_confirmation, "delay", lambda *args: queued.append(args))
    post_subscribe(client, "relay@example.com")
    assert queued == []
    [subscriber] = subscribers(session)
    assert outbox.confirmations_requested(session, utcnow() - timedelta(minutes=3)) == [subscriber.id]
    stop_relay = tasks.start_relay(app)
    try:
        give_up = time.monotonic() + 10
        while not queued and time.monotonic() < give_up:
            time.sleep(0.05)
        time.sleep(3 * tasks.RELAY_INTERVAL)  # more scans: still handed over once
    finally:
        stop_relay()
    assert queued == [(subscriber.id,)]


def test_confirm_link_shows_a_button_and_only_post_confirms(client, session, smtp, celery_worker):
    post_subscribe(client, "reader@example.com")
    path = confirm_link(smtp.wait_for(1)[0])
    page = client.get(path)
    assert page.status_code == 200
    assert 'id="confirm"' in page.get_data(as_text=True)
    assert subscribers(session)[0].status == SubscriberStatus.PENDING

    token = csrf_token(client, path)
    done = client.post(path, data={"csrf_token": token}, headers={"User-Agent": "Confirmer/2.0"})
    assert done.status_code == 200
    assert "You're subscribed" in done.get_data(as_text=True)
    [subscriber] = subscribers(session)
    assert subscriber.status == SubscriberStatus.CONFIRMED
    assert subscriber.confirm_user_agent == "Confirmer/2.0"

    reused = client.post(path, data={"csrf_token": token})
    assert reused.status_code == 410
    assert "already been used" in reused.get_data(as_text=True)
    assert "already subscribed" in client.get(path).get_data(as_text=True)


def test_tampered_expired_and_foreign_tokens_get_a_clear_page(client, session, settings, monkeypatch):
    import time

    subscriber = Subscriber(email="t@example.com", email_key="t@example.com", unsubscribe_token="u" * 43,
                            confirm_nonce="n1", confirm_mail_requested_at=utcnow())
    session.add(subscriber)
    session.commit()
    good = tokens.make_confirm_token(settings.secret_key, subscriber.id, "n1")
    issued = time.time() - (settings.confirm_token_max_age_hours + 1) * 3600
    monkeypatch.setattr(time, "time", lambda: issued)
    expired = tokens.make_confirm_token(settings.secret_key, subscriber.id, "n1")
    monkeypatch.undo()
    foreign = tokens.make_confirm_token("another-secret-key-00000", subscriber.id, "n1")

    cases = [(good[:-3] + "xyz", 400, "not valid"), (expired, 410, "expired"), (foreign, 400, "not valid")]
    for token, status, text in cases:
        for response in (client.get(f"/confirm/{token}"),
                         client.post(f"/confirm/{token}", data={"csrf_token": csrf_token(client)})):
            assert response.status_code == status
            html = response.get_data(as_text=True)
            assert text in html
            assert 'action="/subscribe"' in html  # a way to ask for a new link
    assert subscribers(session)[0].status == SubscriberStatus.PENDING


def _confirmed(session):
    subscriber = Subscriber(email="s@example.com", email_key="s@example.com", status=SubscriberStatus.CONFIRMED,
                            unsubscribe_token=tokens.new_unsubscribe_token(), confirmed_at=utcnow())
    session.add(subscriber)
    session.commit()
    return subscriber, f"/unsubscribe/{subscriber.id}/{subscriber.unsubscribe_token}"


def test_unsubscribe_get_never_unsubscribes(client, session):
    subscriber, path = _confirmed(session)
    response = client.get(path)
    assert response.status_code == 200
    assert 'id="unsubscribe"' in response.get_data(as_text=True)
    assert subscribers(session)[0].status == SubscriberStatus.CONFIRMED


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_one_click_unsubscribe_without_cookie_or_csrf(app, session, encoding):
    subscriber, path = _confirmed(session)
    client = app.test_client(use_cookies=False)
    if encoding == "form":
        response = client.post(path, data="List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You're unsubscribed" in response.get_data(as_text=True)
    [row] = subscribers(session)
    assert row.status == SubscriberStatus.UNSUBSCRIBED
    first_time = row.unsubscribed_at

    repeat = client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert repeat.status_code == 200
    [row] = subscribers(session)
    assert row.status == SubscriberStatus.UNSUBSCRIBED and row.unsubscribed_at == first_time


def test_wrong_unsubscribe_token_changes_nothing(client, session):
    subscriber, path = _confirmed(session)
    bad = path[:-4] + "abcd"
    assert client.post(bad, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 404
    assert client.get(f"/unsubscribe/{subscriber.id + 1}/{subscriber.unsubscribe_token}").status_code == 404
    assert subscribers(session)[0].status == SubscriberStatus.CONFIRMED


def test_resubscribing_from_the_unsubscribed_page_restores_at_once(client, session, smtp, celery_worker):
    """Within the day of the last confirmation mail, a resubscribe used to answer
    "check your inbox" and send nothing; the page's token proves the mailbox."""
    subscriber, path = _confirmed(session)
    subscriber.confirm_mail_requested_at = utcnow() - timedelta(hours=1)
    session.commit()
    html = client.post(path, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").get_data(as_text=True)
    assert 'id="resubscribe"' in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    action = re.search(r'action="(/resubscribe/[^"]+)"', html).group(1)
    assert client.post(action, data={}).status_code == 400  # CSRF
    response = client.post(action, data={"csrf_token": token}, headers={"User-Agent": "Back/2.0"})
    assert "You're subscribed again" in response.get_data(as_text=True)
    [row] = subscribers(session)
    assert row.status == SubscriberStatus.CONFIRMED and row.confirm_user_agent == "Back/2.0"
    assert row.confirmed_at > subscriber.confirm_mail_requested_at and row.unsubscribed_at is None
    assert "already subscribed" in client.post(action, data={"csrf_token": token}).get_data(as_text=True)
    assert smtp.wait_for(1, timeout=1) == []  # nothing was claimed to be on its way


@pytest.mark.parametrize("body, content_type", [
    ("", "application/x-www-form-urlencoded"),
    ("List-Unsubscribe=Yes", "application/x-www-form-urlencoded"),
    ('{"List-Unsubscribe": "One-Click"}', "application/json"),
    ("List-Unsubscribe=One-Click", "text/plain"),
])
def test_one_click_needs_its_body(app, session, body, content_type):
    subscriber, path = _confirmed(session)
    response = app.test_client(use_cookies=False).post(path, data=body, content_type=content_type)
    assert response.status_code == 400 and "List-Unsubscribe=One-Click" in response.get_data(as_text=True)
    assert subscribers(session)[0].status == SubscriberStatus.CONFIRMED


def test_subscribe_survives_a_broker_outage_and_the_sweeper_catches_up(make_app, session):
    """The row is the truth: with the broker down the reader still gets the page,
    and the lost confirmation is found by the sweeper's query."""

    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="memory://")
    app.extensions["celery"].conf.broker_connection_timeout = 1
    app.extensions["celery"].conf.task_publish_retry = False
    client = app.test_client()
    response = post_subscribe(client, "outage@example.com")
    assert response.status_code == 200
    [subscriber] = subscribers(session)
    assert outbox.confirmation_due(subscriber)
    later = utcnow() + timedelta(minutes=5)
    assert outbox.confirmations_lost(session, timedelta(minutes=2), now=later) == [subscriber.id]


def test_unknown_page_is_a_readable_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)
    assert 'rel="icon"' in response.get_data(as_text=True)


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")


def test_subscriber_count_unchanged_by_get_requests(client, session):
    for path in ("/", "/subscribe", "/embed", "/confirm/abc", "/unsubscribe/1/abc"):
        client.get(path)
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
