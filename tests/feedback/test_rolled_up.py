"""Feedback about a copy whose row retention deleted: a complaint months later, or a very
late bounce, still reaches the subscriber a verified id names, and only that one."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support import bounces
from support.delivery import make_finished_issue, make_subscribers
from support.feedback import DOMAIN, bounce_settings

from newsletter.delivery import retention
from newsletter.feedback import inbound, policy
from newsletter.feedback.models import FeedbackEvent, FeedbackKind, FeedbackSource, InboundMessage
from newsletter.mail import verp as kinds
from newsletter.mail.verp import Verp
from newsletter.models import Delivery, Subscriber


@pytest.fixture
def settings(env):
    return bounce_settings(env)


@pytest.fixture
def rolled_up(session):
    """An issue finished 45 days ago, its delivered rows rolled up: (issue id, [(delivery, subscriber)])."""
    issue_id = make_finished_issue(session, make_subscribers(session, 40), 1, days_ago=45)
    copies = list(session.execute(select(Delivery.id, Delivery.subscriber_id)
                                  .where(Delivery.issue_id == issue_id, Delivery.status == "sent")
                                  .order_by(Delivery.id)).all())
    session.commit()
    retention.roll_up(session, 30, lambda rows: session.commit())
    session.commit()
    assert session.scalar(select(Delivery.id).where(Delivery.id.in_([d for d, _ in copies]))) is None
    return issue_id, copies


def status_of(session, subscriber_id):
    session.expire_all()
    return session.get(Subscriber, subscriber_id).status


def returned(settings, session, to: str, raw: bytes) -> inbound.Outcome:
    address = Verp(settings.secret_key, DOMAIN).parse(to)
    return inbound.ingest(session, settings, FeedbackSource.SMTP, raw, [(to, address)])[0]


def test_a_complaint_about_a_rolled_up_copy_unsubscribes_its_subscriber(session, settings, rolled_up):
    issue_id, copies = rolled_up
    (delivery, subscriber), (_, bystander) = copies[0], copies[1]
    to = Verp(settings.secret_key, DOMAIN).address(kinds.ISSUE, kinds.copy_ident(delivery, subscriber))
    # The report quotes another reader's address: the address under the MAC decides, never the text.
    raw = bounces.arf(to, f"reader{bystander}@example.com", message_id=f"issue-{issue_id}.sub-{subscriber}@verdicts.test")

    assert returned(settings, session, to, raw).result == "event"
    session.commit()
    assert status_of(session, subscriber) == "complained"
    assert status_of(session, bystander) == "confirmed"
    recorded = session.execute(select(FeedbackEvent.delivery_id, FeedbackEvent.subscriber_id, FeedbackEvent.kind)).one()
    assert tuple(recorded) == (None, subscriber, FeedbackKind.COMPLAINT)

    assert returned(settings, session, to, raw).result == "duplicate"  # the same report again
    session.commit()
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == 1


def test_an_address_of_the_older_form_names_no_subscriber_and_changes_nothing(session, settings, rolled_up):
    issue_id, copies = rolled_up
    delivery, subscriber = copies[0]
    to = Verp(settings.secret_key, DOMAIN).address(kinds.ISSUE, delivery)  # b-<delivery>-<mac>
    raw = bounces.dsn(to, f"reader{subscriber}@example.com", message_id=f"issue-{issue_id}.sub-{subscriber}@verdicts.test")

    assert returned(settings, session, to, raw).result == "unknown delivery"
    session.commit()
    assert status_of(session, subscriber) == "confirmed"
    assert session.scalar(select(FeedbackEvent.id)) is None


def test_a_returned_copy_naming_another_subscriber_is_kept_for_an_editor(session, settings, rolled_up):
    issue_id, copies = rolled_up
    (delivery, subscriber), (_, other) = copies[0], copies[1]
    to = Verp(settings.secret_key, DOMAIN).address(kinds.ISSUE, kinds.copy_ident(delivery, subscriber))
    raw = bounces.dsn(to, "someone@example.com", message_id=f"issue-{issue_id}.sub-{other}@verdicts.test")

    assert returned(settings, session, to, raw).result == "unparsed"
    session.commit()
    assert status_of(session, subscriber) == "confirmed" and status_of(session, other) == "confirmed"
    assert session.scalar(select(InboundMessage.disposition)) == "unparsed"


def test_a_signed_report_naming_a_rolled_up_copy_reaches_its_subscriber(session, settings, rolled_up):
    issue_id, copies = rolled_up
    (_, subscriber), (_, other) = copies[0], copies[1]
    email = session.get(Subscriber, subscriber).email
    signed = [
        policy.Event(source="mailgun", event_key="m1", kind=FeedbackKind.HARD_BOUNCE, email=email,
                     message_id=f"issue-{issue_id}.sub-{subscriber}@verdicts.test", reason="550 gone"),
        # about one address, naming another subscriber's copy: acts on nobody
        policy.Event(source="mailgun", event_key="m2", kind=FeedbackKind.COMPLAINT, email=email,
                     message_id=f"issue-{issue_id}.sub-{other}@verdicts.test"),
        # a Message-ID that is not ours
        policy.Event(source="mailgun", event_key="m3", kind=FeedbackKind.COMPLAINT, email=email,
                     message_id=f"issue-{issue_id}.sub-{subscriber}@elsewhere.test"),
    ]
    applied = policy.apply_many(session, settings, signed)
    session.commit()
    assert [a.recorded for a in applied] == [True, False, False]
    assert status_of(session, subscriber) == "bounced" and status_of(session, other) == "confirmed"
