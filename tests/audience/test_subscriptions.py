from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.audience import addresses, outbox, subscriptions, tokens
from newsletter.audience.addresses import InvalidSubscription
from newsletter.audience.subscriptions import Consent
from newsletter.db import utcnow
from newsletter.models import Subscriber, SubscriberStatus

DAY = timedelta(hours=24)
KEY = "test-secret-key-0123456789"


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(Subscriber))


def subscribe(session, email="Reader@Example.COM", name="Reader", at=None):
    consent = Consent(ip="203.0.113.7", user_agent="pytest", at=at or utcnow())
    return subscriptions.subscribe(session, email, name, consent, DAY)


def confirm(session, subscriber, at=None):
    token = tokens.make_confirm_token(KEY, subscriber.id, subscriber.confirm_nonce)
    return subscriptions.confirm(session, KEY, token, timedelta(hours=48), Consent("198.51.100.1", "browser", at or utcnow()))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Reader@Example.COM ", ("Reader@example.com", "reader@example.com")),
        ("a.b+tag@sub.example.org", ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org")),
    ],
)
def test_normalise_email(raw, expected):
    assert addresses.normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "not-an-address",
        "two@@example.com",
        "a@b",
        "spaces in@example.com",
        "x" * 250 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "victim@example.com\r\nBcc: everyone@example.com",
        "victim@example.com\nBcc: x@example.com",
        "nul\x00@example.com",
    ],
)
def test_bad_addresses_are_rejected(raw):
    with pytest.raises(InvalidSubscription) as info:
        addresses.normalise_email(raw)
    assert info.value.field == "email"


@pytest.mark.parametrize("name", ["Eve\r\nBcc: x@example.com", "Eve\nX", "Eve\x07", "E" * 101, "a\u2028b"])
def test_bad_names_are_rejected(name):
    with pytest.raises(InvalidSubscription) as info:
        addresses.clean_name(name)
    assert info.value.field == "name"


def test_new_address_is_pending_with_consent_and_a_mail_due(session):
    subscriber = subscribe(session)
    session.commit()
    assert subscriber.status == SubscriberStatus.PENDING
    assert subscriber.email == "Reader@example.com"
    assert subscriber.request_ip == "203.0.113.7"
    assert subscriber.request_user_agent == "pytest"
    assert outbox.confirmation_due(subscriber)
    assert subscriber.unsubscribe_token


def test_same_person_in_other_case_is_one_subscriber(session):
    first = subscribe(session, "reader@example.com")
    session.commit()
    assert subscribe(session, "READER@EXAMPLE.COM", at=utcnow() + 2 * DAY).id == first.id
    session.commit()
    assert count(session) == 1


def test_asking_again_renews_the_request_and_keeps_what_the_form_may_not_change(session):
    """A known address asked again after the interval: a new nonce, the new consent,
    the back-off cleared; the name only if one was given; the categories untouched."""
    now = utcnow()
    first = subscriptions.subscribe(session, "again@example.com", "Ada", Consent("192.0.2.1", "one", now), DAY,
                                    categories="Image")
    session.commit()
    old_nonce = first.confirm_nonce
    first.confirm_mail_attempts, first.confirm_mail_retry_at = 3, now + DAY
    session.commit()
    later = now + 2 * DAY
    again = subscriptions.subscribe(session, "AGAIN@example.com", "", Consent("192.0.2.2", "two", later), DAY,
                                    categories="")
    session.commit()
    assert again is first  # the session's own object, refreshed
    assert (again.name, again.categories, again.request_ip, again.request_user_agent) == ("Ada", "Image", "192.0.2.2", "two")
    assert again.confirm_nonce != old_nonce and again.confirm_mail_requested_at == later
    assert (again.confirm_mail_attempts, again.confirm_mail_retry_at) == (0, None)
    renamed = subscriptions.subscribe(session, "again@example.com", "Ada L.", Consent(at=later + 2 * DAY), DAY)
    session.commit()
    session.expire_all()
    assert renamed.name == "Ada L." and count(session) == 1


def test_at_most_one_confirmation_mail_per_day(session):
    now = utcnow()
    assert subscribe(session, at=now) is not None
    session.commit()
    assert subscribe(session, at=now + timedelta(hours=23)) is None
    assert subscribe(session, at=now + timedelta(hours=25)) is not None


def test_confirmed_subscriber_gets_no_mail(session):
    subscriber = subscribe(session)
    confirm(session, subscriber)
    session.commit()
    assert subscribe(session, at=utcnow() + 3 * DAY) is None
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.CONFIRMED


def test_confirm_records_consent_and_works_once(session):
    subscriber = subscribe(session)
    session.commit()
    token = tokens.make_confirm_token(KEY, subscriber.id, subscriber.confirm_nonce)
    consent = Consent("198.51.100.1", "browser")
    confirmed = subscriptions.confirm(session, KEY, token, timedelta(hours=48), consent)
    session.commit()
    assert confirmed.status == SubscriberStatus.CONFIRMED
    assert confirmed.confirm_ip == "198.51.100.1"
    assert confirmed.confirm_user_agent == "browser"
    assert confirmed.confirmed_at is not None
    with pytest.raises(tokens.TokenUsed):
        subscriptions.confirm(session, KEY, token, timedelta(hours=48), consent)


def test_a_new_link_replaces_the_old_one(session):
    now = utcnow()
    subscriber = subscribe(session, at=now)
    session.commit()
    old = tokens.make_confirm_token(KEY, subscriber.id, subscriber.confirm_nonce)
    subscribe(session, at=now + 2 * DAY)
    session.commit()
    with pytest.raises(tokens.TokenUsed):
        subscriptions.confirm(session, KEY, old, timedelta(hours=48), Consent())


def test_unknown_subscriber_in_token_is_invalid(session):
    token = tokens.make_confirm_token(KEY, 999999, "abc")
    with pytest.raises(tokens.TokenInvalid):
        subscriptions.confirm(session, KEY, token, timedelta(hours=48), Consent())


def test_unsubscribe_and_resubscribe_goes_through_opt_in_again(session):
    subscriber = subscribe(session)
    confirm(session, subscriber)
    session.commit()
    assert subscriptions.unsubscribe(session, subscriber) is True
    assert subscriptions.unsubscribe(session, subscriber) is False
    session.commit()
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    again = subscribe(session, at=utcnow() + 2 * DAY)
    session.commit()
    assert again.id == subscriber.id
    assert again.status == SubscriberStatus.PENDING
    assert outbox.confirmation_due(again)


def test_unsubscribe_token_lookup(session):
    subscriber = subscribe(session)
    session.commit()
    assert subscriptions.find_for_unsubscribe(session, subscriber.id, subscriber.unsubscribe_token) is subscriber
    assert subscriptions.find_for_unsubscribe(session, subscriber.id, "wrong") is None
    assert subscriptions.find_for_unsubscribe(session, subscriber.id + 1, subscriber.unsubscribe_token) is None


def test_purge_removes_only_old_unconfirmed(session):
    old = subscribe(session, "old@example.com", at=utcnow() - timedelta(days=20))
    fresh = subscribe(session, "fresh@example.com")
    kept = subscribe(session, "kept@example.com", at=utcnow() - timedelta(days=20))
    confirm(session, kept)
    session.commit()
    assert subscriptions.purge_unconfirmed(session, timedelta(days=14)) == 1
    session.commit()
    remaining = set(session.scalars(select(Subscriber.email_key)))
    assert remaining == {"fresh@example.com", "kept@example.com"}
    assert old.id not in {fresh.id, kept.id}


def test_lost_confirmations_are_found_until_sent(session):
    subscriber = subscribe(session, at=utcnow() - timedelta(minutes=10))
    session.commit()
    assert outbox.confirmations_lost(session, timedelta(minutes=2)) == [subscriber.id]
    subscriber.confirm_mail_sent_at = utcnow()
    session.commit()
    assert outbox.confirmations_lost(session, timedelta(minutes=2)) == []


def test_send_confirmation_mail_sends_once(session, settings, smtp):
    subscriber = subscribe(session)
    session.commit()
    assert outbox.send_confirmation_mail(session, settings, subscriber.id) == outbox.Sent.SENT
    session.commit()
    assert outbox.send_confirmation_mail(session, settings, subscriber.id) == outbox.Sent.NOT_DUE
    messages = smtp.wait_for(1)
    assert len(messages) == 1
    mail = messages[0]
    assert mail.envelope_to == ["Reader@example.com"]
    assert mail.message["List-Unsubscribe"] == (
        f"<{settings.base_url}/unsubscribe/{subscriber.id}/{subscriber.unsubscribe_token}>"
    )
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{settings.base_url}/confirm/" in mail.text
    assert f"{settings.base_url}/confirm/" in mail.html


def test_concurrent_requests_for_one_address_make_one_row_and_one_mail(db):
    """Two posts at once: no unique-key error, one subscriber, one mail due."""
    import threading

    from conftest import run_in_threads

    barrier = threading.Barrier(8)

    def post():
        with db.session() as session:
            barrier.wait(timeout=10)
            subscriber = subscribe(session, "race@example.com")
            session.commit()
            return subscriber is not None

    assert sorted(run_in_threads(8, post)) == [False] * 7 + [True]
    with db.session() as session:
        assert count(session) == 1


def test_a_confirmation_refused_for_good_suppresses_the_address_and_is_never_retried(session, settings, smtp):
    subscriber = subscribe(session, at=utcnow() - timedelta(minutes=10))
    session.commit()
    smtp.refuse["reader@example.com"] = "550 5.1.1 no such user"
    assert outbox.send_confirmation_mail(session, settings, subscriber.id) == outbox.Sent.REFUSED
    session.commit()
    session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.BOUNCED and "550 5.1.1" in subscriber.bounce_reason
    assert outbox.confirmations_lost(session, timedelta(minutes=2), now=utcnow() + timedelta(days=1)) == []
    assert outbox.send_confirmation_mail(session, settings, subscriber.id) == outbox.Sent.NOT_DUE


def test_a_confirmation_refused_for_now_backs_off(session, settings, smtp):
    subscriber = subscribe(session, at=utcnow() - timedelta(minutes=10))
    session.commit()
    smtp.refuse["reader@example.com"] = "451 4.7.1 try again later"
    now = utcnow()
    waits = []
    for attempt in range(1, 5):
        assert outbox.send_confirmation_mail(session, settings, subscriber.id, now=now) == outbox.Sent.LATER
        session.commit()
        waits.append(subscriber.confirm_mail_retry_at - now)
        assert outbox.confirmations_lost(session, timedelta(minutes=2), now=now) == []  # not before its time
        assert outbox.send_confirmation_mail(session, settings, subscriber.id, now=now) == outbox.Sent.NOT_DUE
        now = subscriber.confirm_mail_retry_at
        assert outbox.confirmations_lost(session, timedelta(minutes=2), now=now) == [subscriber.id]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    del smtp.refuse["reader@example.com"]
    assert outbox.send_confirmation_mail(session, settings, subscriber.id, now=now) == outbox.Sent.SENT
