"""The feedback inbox on a real database: a set applied at once decides what one-by-one
would, an entry that cannot be applied costs only itself, and two workers share it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support import bounces
from support.delivery import sent_to
from support.feedback import DOMAIN, apply_inbox, bounce_settings

from newsletter.feedback import inbox, policy
from newsletter.feedback.models import FeedbackEvent, FeedbackKind, InboundMessage, InboxEntry
from newsletter.mail.verp import Verp
from newsletter.models import Delivery, Subscriber


@pytest.fixture
def settings(env):
    return bounce_settings(env)


@pytest.fixture
def sent(session):
    """An issue sent to four subscribers: (issue id, [delivery ids], [subscriber ids])."""
    return sent_to(session, 4)


def hook(kind, key, **fields):
    return policy.Event(source="mailgun", event_key=key, kind=kind, **fields)


def statuses(db) -> dict[int, str]:
    with db.session() as s:
        return dict(s.execute(select(Subscriber.id, Subscriber.status)).all())


def actions(db) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(FeedbackEvent.event_key, FeedbackEvent.action)).all())


def test_a_set_decides_what_one_by_one_would(db, session, settings, sent):
    _, deliveries, subscribers = sent
    inbox.put_events(session, [
        hook(FeedbackKind.HARD_BOUNCE, "h1", delivery_id=deliveries[0], reason="user unknown"),
        hook(FeedbackKind.HARD_BOUNCE, "h1", delivery_id=deliveries[0]),  # the provider sent it twice
        hook(FeedbackKind.HARD_BOUNCE, "h2", delivery_id=deliveries[0]),  # another id, the same copy
        hook(FeedbackKind.SOFT_BOUNCE, "s1", delivery_id=deliveries[1]),
        hook(FeedbackKind.COMPLAINT, "c1", delivery_id=deliveries[2]),
        hook(FeedbackKind.HARD_BOUNCE, "x1", delivery_id=999999),  # ties to nothing
    ])
    # Soft bounces of one reader's confirmation mails (a copy counts once, a reader's mails add up).
    inbox.put_events(session, [hook(FeedbackKind.SOFT_BOUNCE, "s2", subscriber_id=subscribers[3])])
    inbox.put_events(session, [hook(FeedbackKind.SOFT_BOUNCE, "s3", subscriber_id=subscribers[3])])
    session.commit()
    assert apply_inbox(db, settings) == inbox.Drained(3, 0)
    assert statuses(db) == {subscribers[0]: "bounced", subscribers[1]: "confirmed",
                            subscribers[2]: "complained", subscribers[3]: "confirmed"}
    # Two more in one set: the first is the third in the window and suppresses.
    inbox.put_events(session, [hook(FeedbackKind.SOFT_BOUNCE, "s4", subscriber_id=subscribers[3]),
                               hook(FeedbackKind.SOFT_BOUNCE, "s5", subscriber_id=subscribers[3])])
    session.commit()
    apply_inbox(db, settings)
    done = actions(db)
    assert set(done) == {"h1", "s1", "c1", "s2", "s3", "s4", "s5"}
    assert done["h1"] == "suppressed: bounced" and done["c1"] == "unsubscribed: complaint"
    assert (done["s2"], done["s3"]) == ("soft bounce 1 of 3 in 30 days", "soft bounce 2 of 3 in 30 days")
    assert done["s4"] == "suppressed: bounced after 3 soft bounces"
    assert done["s5"] == "recorded: subscriber is bounced after 4 soft bounces"
    assert statuses(db)[subscribers[3]] == "bounced"
    with db.session() as s:
        assert s.get(Delivery, deliveries[0]).status == "bounced"
        assert s.scalar(select(func.count()).select_from(InboxEntry)) == 0


def test_a_bounce_mail_waits_in_the_inbox_until_applied(db, session, settings, sent):
    issue_id, deliveries, subscribers = sent
    verp = Verp(settings.secret_key, DOMAIN)
    to = verp.address("b", deliveries[1])
    raw = bounces.dsn(to, "reader00001@example.com", message_id=f"issue-{issue_id}.sub-{subscribers[1]}@verdicts.test")
    inbox.put_mails(session, [inbox.Mail("smtp", raw, [to]), inbox.Mail("smtp", raw, [to])])  # and retried
    session.commit()
    assert statuses(db)[subscribers[1]] == "confirmed"
    assert apply_inbox(db, settings) == inbox.Drained(2, 0)
    assert statuses(db)[subscribers[1]] == "bounced"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FeedbackEvent)) == 1


def test_an_entry_that_cannot_be_applied_costs_only_itself(db, session, settings, sent):
    _, deliveries, subscribers = sent
    inbox.put_events(session, [hook(FeedbackKind.HARD_BOUNCE, "h1", delivery_id=deliveries[0])])
    session.add(InboxEntry(source="mailgun", events='[{"not": "an event"}]'))
    inbox.put_events(session, [hook(FeedbackKind.HARD_BOUNCE, "h2", delivery_id=deliveries[1])])
    session.commit()
    assert apply_inbox(db, settings) == inbox.Drained(2, 1)
    assert [statuses(db)[s] for s in subscribers[:2]] == ["bounced", "bounced"]
    for _ in range(inbox.MAX_ATTEMPTS - 1):
        assert apply_inbox(db, settings) == inbox.Drained(0, 1)
    with db.session() as s:
        bad = s.scalar(select(InboxEntry))
        assert bad.attempts == inbox.MAX_ATTEMPTS and "TypeError" in bad.error
        assert not inbox.waiting(s) and [e.id for e in inbox.stuck(s)] == [bad.id]
    assert apply_inbox(db, settings) == inbox.Drained(0, 0)  # left for an editor


def test_a_mail_whose_address_no_longer_verifies_is_kept_not_acted_on(db, session, settings, sent):
    _, deliveries, subscribers = sent
    to = Verp("an older secret key", DOMAIN).address("b", deliveries[0])
    inbox.put_mails(session, [inbox.Mail("smtp", bounces.dsn(to, "reader00000@example.com"), [to])])
    session.commit()
    assert apply_inbox(db, settings) == inbox.Drained(1, 0)
    assert statuses(db)[subscribers[0]] == "confirmed"
    with db.session() as s:
        kept = s.scalar(select(InboundMessage))
        assert kept.disposition == "unparsed" and "no longer verifies" in kept.note


@pytest.mark.postgresql_only
def test_two_workers_take_different_entries(db, session, settings, sent):
    _, deliveries, _ = sent
    for n, delivery_id in enumerate(deliveries):
        inbox.put_events(session, [hook(FeedbackKind.HARD_BOUNCE, f"h{n}", delivery_id=delivery_id)])
    session.commit()
    with db.session() as first, db.session() as second:
        assert inbox.apply_waiting(first, settings, limit=2) == inbox.Drained(2, 0)  # holds its two
        assert inbox.apply_waiting(second, settings, limit=4) == inbox.Drained(2, 0)  # skips them
        second.commit()
        first.commit()
    assert set(actions(db)) == {"h0", "h1", "h2", "h3"}


def test_events_put_outside_a_transaction_are_stored_without_a_commit(db):
    """What a webhook request does: one INSERT on `Database.autocommit()`, nothing else.
    Were the connection in a transaction, leaving the block would roll it back."""
    with db.autocommit() as connection:
        inbox.put_events(connection, [hook(FeedbackKind.COMPLAINT, "a1", delivery_id=1)])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxEntry)) == 1
