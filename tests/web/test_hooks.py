"""The four webhooks: signed with test keys, a wrong signature, a replay, a malformed
body, and an unconfigured hook; nothing is stored unless the request verifies."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select
from support import hooks
from support.delivery import address, make_sending_issue, make_subscribers
from support.feedback import apply_inbox

from newsletter.db import utcnow
from newsletter.delivery import ledger
from newsletter.feedback.models import FeedbackEvent, InboxEntry
from newsletter.mail.verp import Verp
from newsletter.models import Delivery, Subscriber

DOMAIN = "bounces.verdicts.test"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return hooks.Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def app(make_app, keys):
    return make_app(BOUNCE_DOMAIN=DOMAIN, **keys.settings())


@pytest.fixture
def copies(app, db):
    """Four readers who were sent issue 1: [(email, VERP sender, Message-ID)]."""
    with db.session() as session:
        make_subscribers(session, 4)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        session.execute(Delivery.__table__.update().values(status="sent", sent_at=utcnow()))
        session.commit()
        rows = session.execute(select(Delivery.id, Delivery.subscriber_id).order_by(Delivery.subscriber_id)).all()
    verp = Verp(app.extensions["settings"].secret_key, DOMAIN)
    return [(address(i), verp.address("b", row.id), f"issue-{issue_id}.sub-{row.subscriber_id}@verdicts.test")
            for i, row in enumerate(rows)]


def state(client, db):
    """(each reader's status, events recorded) once the worker's step applied the inbox."""
    apply_inbox(db, client.application.extensions["settings"])
    with db.session() as s:
        statuses = dict(s.execute(select(Subscriber.email, Subscriber.status)).all())
        return statuses, s.scalar(select(func.count()).select_from(FeedbackEvent))


def stored(db) -> int:
    """Entries in the inbox, before anything applies them."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(InboxEntry))


def post(client, provider, body: bytes, headers=None):
    return client.post(f"/hooks/{provider}", data=body, headers={"Content-Type": "application/json",
                                                                 **(headers or {})})


# SES through SNS

def test_ses_bounce_and_complaint(client, db, keys, copies):
    (a, a_sender, a_id), (b, b_sender, b_id) = copies[:2]
    r = post(client, "ses", keys.sns(hooks.ses_bounce(a, source=a_sender, message_id=a_id), message_id="m1"))
    assert r.status_code == 200 and r.json["accepted"] == 1
    r = post(client, "ses", keys.sns(hooks.ses_complaint(b, source="newsletter@verdicts.test", message_id=b_id),
                                     message_id="m2", version="1"))  # tied by Message-ID; SHA1 signature
    assert r.status_code == 200 and r.json["accepted"] == 1
    statuses, events = state(client, db)
    assert (statuses[a], statuses[b], events) == ("bounced", "complained", 2)
    # SNS delivers again: nothing more.
    r = post(client, "ses", keys.sns(hooks.ses_bounce(a, source=a_sender, message_id=a_id), message_id="m1"))
    assert r.status_code == 200 and r.json["accepted"] == 1 and state(client, db)[1] == 2


@pytest.mark.parametrize("forge", [
    lambda keys, msg: keys.sns(msg, key=__import__("cryptography.hazmat.primitives.asymmetric.rsa", fromlist=["x"])
                               .generate_private_key(public_exponent=65537, key_size=2048)),
    lambda keys, msg: keys.sns(msg).replace(b"5.1.1", b"5.1.2"),  # changed after signing
    lambda keys, msg: keys.sns(msg, cert_url="https://sns.eu-west-1.amazonaws.com.evil.test/cert.pem"),
    lambda keys, msg: keys.sns(msg, cert_url="http://sns.eu-west-1.amazonaws.com/cert.pem"),
    lambda keys, msg: keys.sns(msg, topic="arn:aws:sns:eu-west-1:123456789012:someone-else"),
    lambda keys, msg: keys.sns(msg, version="3"),
])
def test_ses_forged_notifications_store_nothing(client, db, keys, copies, forge):
    email, sender, message_id = copies[0]
    r = post(client, "ses", forge(keys, hooks.ses_bounce(email, source=sender, message_id=message_id)))
    assert r.status_code == 403
    assert stored(db) == 0 and state(client, db) == ({e: "confirmed" for e, _, _ in copies}, 0)


def test_ses_malformed_body_is_400(client, db, keys, copies):
    assert post(client, "ses", b"{not json").status_code == 400
    assert post(client, "ses", keys.sns("not json either")).status_code == 400
    assert post(client, "ses", keys.sns({"notificationType": "Bounce", "mail": {}})).status_code == 400
    assert stored(db) == 0 and state(client, db)[1] == 0


def test_ses_subscription_confirmation_must_point_at_sns(client, keys):
    body = keys.sns("You have chosen to subscribe", type_="SubscriptionConfirmation", Token="t0k",
                    SubscribeURL="https://attacker.example/confirm")
    assert post(client, "ses", body).status_code == 403


def test_ses_delivery_notifications_are_ignored(client, db, keys, copies):
    r = post(client, "ses", keys.sns({"notificationType": "Delivery", "mail": {}}))
    assert r.status_code == 200 and r.json["ignored"] == 1 and state(client, db)[1] == 0


# Mailgun

def mailgun_event(email, message_id, event="failed", severity="permanent", ident="mg-1"):
    return {"id": ident, "event": event, "severity": severity, "recipient": email, "timestamp": time.time(),
            "message": {"headers": {"message-id": message_id}},
            "delivery-status": {"code": 550, "description": "mailbox does not exist"}}


def test_mailgun_signed_events(client, db, copies):
    (a, _, a_id), (b, _, b_id), (c, _, c_id) = copies[:3]
    assert post(client, "mailgun", hooks.mailgun(mailgun_event(a, a_id))).json["accepted"] == 1
    assert post(client, "mailgun", hooks.mailgun(mailgun_event(b, b_id, "complained", "", "mg-2"))).status_code == 200
    assert post(client, "mailgun", hooks.mailgun(mailgun_event(c, c_id, "unsubscribed", "", "mg-3"))).status_code == 200
    statuses, events = state(client, db)
    assert (statuses[a], statuses[b], statuses[c], events) == ("bounced", "complained", "unsubscribed", 3)
    # The same signed request replayed: recorded once.
    assert post(client, "mailgun", hooks.mailgun(mailgun_event(a, a_id))).json["accepted"] == 1


@pytest.mark.parametrize("body", [
    lambda e: hooks.mailgun(e, key="key-someone-else"),
    lambda e: hooks.mailgun(e, timestamp=int(time.time()) - 3600),  # a replay from an hour ago
    lambda e: hooks.mailgun(e).replace(b'"signature": "', b'"signature": "0'),
    lambda e: json.dumps({"event-data": e}).encode(),
])
def test_mailgun_bad_signatures_store_nothing(client, db, copies, body):
    email, _, message_id = copies[0]
    assert post(client, "mailgun", body(mailgun_event(email, message_id))).status_code in (401, 403)
    assert stored(db) == 0 and state(client, db)[1] == 0


def test_mailgun_malformed_body_is_400(client, db):
    assert post(client, "mailgun", hooks.mailgun("not an object")).status_code == 400
    assert post(client, "mailgun", hooks.mailgun({"event": "failed"})).status_code == 400
    assert post(client, "mailgun", b"[]").status_code == 401


# Postmark

def postmark_bounce(email, ident=101, type_="HardBounce", record="Bounce"):
    return json.dumps({"RecordType": record, "ID": ident, "Type": type_, "Email": email,
                       "Details": "smtp;550 5.1.1 user unknown", "BouncedAt": "2026-11-24T09:04:00Z"}).encode()


def test_postmark_bounce_and_complaint_with_basic_auth(client, db, copies):
    (a, _, _), (b, _, _) = copies[:2]
    auth = hooks.basic(*hooks.POSTMARK)
    assert post(client, "postmark", postmark_bounce(a), auth).json["accepted"] == 1
    assert post(client, "postmark", postmark_bounce(b, 102, "SpamComplaint", "SpamComplaint"), auth).status_code == 200
    assert post(client, "postmark", postmark_bounce(a), auth).json["accepted"] == 1  # replay
    statuses, events = state(client, db)
    assert (statuses[a], statuses[b], events) == ("bounced", "complained", 2)


@pytest.mark.parametrize("headers, code", [
    ({}, 401), (hooks.basic("hooks", "wrong"), 401), (hooks.basic("other", hooks.POSTMARK[1]), 401),
    ({"Authorization": "Basic %%%"}, 401), ({"Authorization": "Bearer x"}, 401),
])
def test_postmark_wrong_credentials_store_nothing(client, db, copies, headers, code):
    assert post(client, "postmark", postmark_bounce(copies[0][0]), headers).status_code == code
    assert stored(db) == 0 and state(client, db)[1] == 0


def test_postmark_malformed_body_is_400(client):
    auth = hooks.basic(*hooks.POSTMARK)
    assert post(client, "postmark", b"\xff\xfe", auth).status_code == 400
    assert post(client, "postmark", json.dumps({"RecordType": "Bounce", "Type": "HardBounce"}).encode(),
                auth).status_code == 400


# SendGrid

def sendgrid_events(copies):
    (a, _, a_id), (b, _, b_id) = copies[:2]
    return [{"email": a, "event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 user unknown",
             "sg_event_id": "sg-1", "smtp-id": f"<{a_id}>", "timestamp": int(time.time())},
            {"email": b, "event": "spamreport", "sg_event_id": "sg-2", "smtp-id": f"<{b_id}>"},
            {"email": b, "event": "delivered", "sg_event_id": "sg-3", "smtp-id": f"<{b_id}>"}]


def test_sendgrid_signed_batch(client, db, keys, copies):
    body, headers = keys.sendgrid(sendgrid_events(copies))
    r = post(client, "sendgrid", body, headers)
    assert r.status_code == 200 and (r.json["accepted"], r.json["ignored"]) == (2, 1)
    statuses, events = state(client, db)
    assert (statuses[copies[0][0]], statuses[copies[1][0]], events) == ("bounced", "complained", 2)
    assert post(client, "sendgrid", body, headers).json["accepted"] == 2  # replayed inside the window
    assert state(client, db)[1] == 2  # and recorded once


def test_sendgrid_bad_signatures_store_nothing(client, db, keys, copies):
    from cryptography.hazmat.primitives.asymmetric import ec

    events = sendgrid_events(copies)
    other = keys.sendgrid(events, key=ec.generate_private_key(ec.SECP256R1()))
    stale = keys.sendgrid(events, timestamp=int(time.time()) - 3600)
    body, headers = keys.sendgrid(events)
    tampered = (body.replace(b"spamreport", b"delivered"), headers)
    unsigned = (body, {})
    for body_, headers_ in (other, stale, tampered, unsigned):
        assert post(client, "sendgrid", body_, headers_).status_code in (401, 403)
    assert stored(db) == 0 and state(client, db)[1] == 0


def test_sendgrid_malformed_body_is_400(client, keys):
    assert post(client, "sendgrid", *keys.sendgrid(b"{oops")).status_code == 400
    assert post(client, "sendgrid", *keys.sendgrid([{"event": "bounce", "email": "x@example.com"}])).status_code == 400


def test_an_unconfigured_hook_is_not_there(make_app, db):
    client = make_app().test_client()
    for provider in ("ses", "mailgun", "postmark", "sendgrid", "nonesuch"):
        assert client.post(f"/hooks/{provider}", data=b"{}").status_code == 404
