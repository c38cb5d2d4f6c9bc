"""The policy on a real database: what each event does, once, and what changes nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.delivery import sent_to

from newsletter.config import load_settings
from newsletter.db import utcnow
from newsletter.feedback import policy
from newsletter.feedback.models import FeedbackEvent, FeedbackKind
from newsletter.models import Delivery, Issue, IssueStatus, Subscriber


@pytest.fixture
def sent(session):
    """An issue sent to three subscribers: (issue id, [delivery ids], [subscriber ids])."""
    return sent_to(session, 3)


def event(kind, key="e1", **fields):
    return policy.Event(source="smtp", event_key=key, kind=kind, **fields)


def status_of(session, subscriber_id):
    session.expire_all()
    return session.get(Subscriber, subscriber_id).status


def test_hard_bounce_suppresses_and_marks_the_copy(session, settings, sent):
    issue_id, deliveries, subscribers = sent
    applied = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, delivery_id=deliveries[0],
                                                    status="5.1.1", reason="550 5.1.1 user unknown"))
    session.commit()
    assert applied.recorded and applied.issue_id == issue_id and "suppressed" in applied.action
    subscriber = session.get(Subscriber, subscribers[0])
    assert subscriber.status == "bounced" and "user unknown" in subscriber.bounce_reason
    assert session.get(Delivery, deliveries[0]).status == "bounced"
    assert status_of(session, subscribers[1]) == "confirmed"
    row = session.scalar(select(FeedbackEvent))
    assert (row.kind, row.subscriber_id, row.issue_id, row.status) == ("hard_bounce", subscribers[0], issue_id, "5.1.1")


def test_the_same_event_twice_is_recorded_once(session, settings, sent):
    _, deliveries, _ = sent
    first = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, delivery_id=deliveries[0]))
    again = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, delivery_id=deliveries[0]))
    # The same bounce heard another way (a webhook, say) is the same (delivery, kind).
    other_way = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, key="other",
                                                      delivery_id=deliveries[0]))
    session.commit()
    assert first.recorded and not again.recorded and not other_way.recorded
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == 1


def test_soft_bounces_suppress_at_the_limit_within_the_window(session, settings, sent):
    _, deliveries, subscribers = sent
    old = FeedbackEvent(source="smtp", event_key="old", kind="soft_bounce", subscriber_id=subscribers[0],
                        received_at=utcnow() - timedelta(days=31))
    session.add(old)
    session.commit()
    actions = []
    for n, delivery_id in enumerate([deliveries[0]] * 1):
        actions.append(policy.apply(session, settings, event(FeedbackKind.SOFT_BOUNCE, key=f"s{n}",
                                                             delivery_id=delivery_id)).action)
    # Two more soft bounces reported for other issues' copies, through the Message-ID path.
    for n in (2, 3):
        issue = Issue(number=n, status=IssueStatus.SENT, subject="x")
        session.add(issue)
        session.flush()
        session.add(Delivery(issue_id=issue.id, subscriber_id=subscribers[0], status="sent"))
        session.flush()
        actions.append(policy.apply(session, settings, event(
            FeedbackKind.SOFT_BOUNCE, key=f"s{n}", message_id=f"issue-{issue.id}.sub-{subscribers[0]}@verdicts.test",
        )).action)
        if n == 2:
            assert status_of(session, subscribers[0]) == "confirmed"
    session.commit()
    assert actions[0] == "soft bounce 1 of 3 in 30 days" and actions[1] == "soft bounce 2 of 3 in 30 days"
    assert "after 3 soft bounces" in actions[2]
    assert status_of(session, subscribers[0]) == "bounced"


def test_complaint_unsubscribes_as_complained(session, settings, sent):
    _, deliveries, subscribers = sent
    applied = policy.apply(session, settings, event(FeedbackKind.COMPLAINT, delivery_id=deliveries[1]))
    session.commit()
    assert applied.action == "unsubscribed: complaint"
    subscriber = session.get(Subscriber, subscribers[1])
    assert subscriber.status == "complained" and subscriber.unsubscribed_at is not None
    assert session.get(Delivery, deliveries[1]).status == "sent"  # it was delivered; they complained


def test_unsubscribe_event_never_downgrades_a_complaint(session, settings, sent):
    _, deliveries, subscribers = sent
    policy.apply(session, settings, event(FeedbackKind.COMPLAINT, delivery_id=deliveries[1]))
    applied = policy.apply(session, settings, event(FeedbackKind.UNSUBSCRIBE, key="u", delivery_id=deliveries[1]))
    assert applied.recorded and "complained" in applied.action
    assert status_of(session, subscribers[1]) == "complained"
    policy.apply(session, settings, event(FeedbackKind.UNSUBSCRIBE, key="u2", delivery_id=deliveries[2]))
    assert status_of(session, subscribers[2]) == "unsubscribed"


@pytest.mark.parametrize("fields", [
    {"delivery_id": 999999},
    {"message_id": "issue-1.sub-1@elsewhere.test"},  # not our domain
    {"message_id": "confirm.abc@verdicts.test"},
    {"email": "nobody@example.com"},
])
def test_an_event_about_no_copy_of_ours_changes_nothing(session, settings, sent, fields):
    applied = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, **fields))
    session.commit()
    assert not applied.recorded
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == 0
    assert set(session.scalars(select(Subscriber.status))) == {"confirmed"}


def test_a_signed_report_about_another_address_changes_nothing(session, settings, sent):
    _, deliveries, subscribers = sent
    applied = policy.apply(session, settings, policy.Event(
        source="mailgun", event_key="m1", kind=FeedbackKind.HARD_BOUNCE, delivery_id=deliveries[0],
        email="someone-else@example.com"))
    assert not applied.recorded and status_of(session, subscribers[0]) == "confirmed"


def test_bounce_of_a_confirmation_suppresses_the_pending_address(session, settings):
    subscriber = Subscriber(email="new@example.com", email_key="new@example.com", status="pending",
                            unsubscribe_token="tok-new", confirm_nonce="n1")
    session.add(subscriber)
    session.commit()
    applied = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, subscriber_id=subscriber.id,
                                                    reason="550 no such user"))
    session.commit()
    assert applied.action == "suppressed: the confirmation mail bounced"
    assert status_of(session, subscriber.id) == "bounced"


def test_late_hard_bounces_pause_a_sending_issue_past_the_rate(session, env, sent):
    settings = load_settings({**env, "MAX_BOUNCE_RATE": "40", "BOUNCE_RATE_MIN_SAMPLE": "3"})
    issue_id, deliveries, _ = sent
    first = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, key="h1", delivery_id=deliveries[0]))
    assert first.paused is None  # 1 of 3 is 33 %
    second = policy.apply(session, settings, event(FeedbackKind.HARD_BOUNCE, key="h2", delivery_id=deliveries[1]))
    session.commit()
    assert second.paused and "2 of 3 messages hard-bounced" in second.paused
    issue = session.get(Issue, issue_id)
    assert issue.status == "paused" and "MAX_BOUNCE_RATE" in issue.pause_reason
