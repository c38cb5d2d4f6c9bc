"""Bounce addresses: one per copy, unguessable, verified before anything is accepted."""
from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.config import load_settings
from newsletter.db import utcnow
from newsletter.mail import verp
from newsletter.mail.compose import Composer
from newsletter.mail.verp import BounceAddress, Verp

V = Verp("test-secret-key-0123456789", "bounces.verdicts.test")


def test_an_address_names_its_copy_and_verifies():
    address = V.address(verp.ISSUE, 12345)
    assert address.startswith("b-12345-") and address.endswith("@bounces.verdicts.test")
    assert V.parse(address) == BounceAddress("b", "12345")
    assert V.parse(address.upper()) == BounceAddress("b", "12345")  # servers may change case
    assert V.parse(f"<{address}>") == BounceAddress("b", "12345")


def test_a_copy_address_names_its_delivery_and_its_subscriber_under_one_mac():
    address = V.address(verp.ISSUE, verp.copy_ident(12345, 678))
    named = V.parse(address)
    assert (named.delivery_id, named.subscriber_id) == (12345, 678)
    assert V.parse(address.replace("s678-", "s679-")) is None  # another subscriber, same MAC
    older = V.parse(V.address(verp.ISSUE, 12345))  # made before the subscriber was added
    assert (older.delivery_id, older.subscriber_id) == (12345, None)
    confirmation = V.parse(V.address(verp.CONFIRMATION, 678))
    assert (confirmation.delivery_id, confirmation.subscriber_id) == (None, 678)


@pytest.mark.parametrize("mangle", [
    lambda a: a.replace("b-12345-", "b-12346-"),  # another copy, same MAC
    lambda a: a.replace("b-12345-", "c-12345-"),  # another kind
    lambda a: a[:-len("bounces.verdicts.test")] + "evil.test",  # another domain
    lambda a: a.split("@")[0][:-1] + "a@bounces.verdicts.test",  # a MAC one letter off
    lambda a: "postmaster@bounces.verdicts.test",
    lambda a: a.split("@")[0],
])
def test_forged_addresses_do_not_verify(mangle):
    assert V.parse(mangle(V.address(verp.ISSUE, 12345))) is None


def test_another_secret_makes_other_addresses():
    other = Verp("another-secret-key-000000", "bounces.verdicts.test")
    assert other.parse(V.address(verp.ISSUE, 1)) is None


def test_the_composer_uses_mail_from_without_a_bounce_domain(env):
    assert Composer(load_settings(env)).envelope_from(verp.ISSUE, 5) == "newsletter@verdicts.test"
    composer = Composer(load_settings({**env, "BOUNCE_DOMAIN": "Bounces.Verdicts.test"}))
    sender = composer.envelope_from(verp.ISSUE, 5)
    assert sender.endswith("@bounces.verdicts.test")
    assert composer.verp.parse(sender) == BounceAddress("b", "5")


def test_a_confirmation_mail_leaves_with_its_own_kind_of_bounce_address(session, env, smtp):
    from newsletter.audience import outbox
    from newsletter.audience.subscriptions import Consent, subscribe

    settings = load_settings({**env, "BOUNCE_DOMAIN": "bounces.verdicts.test"})
    subscriber = subscribe(session, "reader@example.com", "", Consent(), timedelta(hours=24))
    session.commit()
    assert outbox.send_confirmation_mail(session, settings, subscriber.id) == outbox.Sent.SENT
    sender = smtp.wait_for(1)[0].envelope_from
    assert Composer(settings).verp.parse(sender) == BounceAddress("c", str(subscriber.id))


def test_a_test_send_leaves_with_a_test_bounce_address(session, env, smtp):
    from support.issues import make_comparison

    from newsletter.issues import drafts, testsend

    settings = load_settings({**env, "BOUNCE_DOMAIN": "bounces.verdicts.test"})
    make_comparison(session, published_at=utcnow() - timedelta(days=1))
    issue_id = drafts.refresh_draft(session).issue.id
    session.commit()
    assert testsend.send_test(session, settings, issue_id, ["editor@example.com"])["editor@example.com"].accepted
    bounce_address = Composer(settings).verp.parse(smtp.wait_for(1)[0].envelope_from)
    assert bounce_address is not None and bounce_address.kind == "t"
