"""The welcome mail's ledger and content: one row per subscriber, sent once through a
real SMTP server, carrying the latest issue's comparisons in the reader's categories
(or the last N days'), never to someone suppressed, and nothing when there is nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.audience import make_subscriber
from support.issues import make_comparison
from support.smtp_server import ScriptedSmtpServer

from newsletter.config import load_settings
from newsletter.db import utcnow
from newsletter.issues import drafts
from newsletter.models import IssueStatus, Subscriber, SubscriberStatus, Welcome, WelcomeStatus
from newsletter.readers import welcome, welcome_mail


def comparison(session, name, category, days_ago=1.0):
    made = make_comparison(session, f"{name} A", f"{name} B", published_at=utcnow() - timedelta(days=days_ago))
    for tool in made.tools:
        tool.category = category
    return made


def went_out(session, *titles_in_order):
    """An issue that went out, holding the comparisons published in the last 30 days,
    arranged in the given order (the editor's)."""
    issue = drafts.refresh_draft(session, utcnow() - timedelta(days=30)).issue
    by_title = {item.comparison.title: item.comparison_id for item in issue.items}
    drafts.arrange(issue, [by_title[t] for t in titles_in_order], {})
    issue.status, issue.sending_started_at = IssueStatus.SENT, utcnow() - timedelta(hours=1)
    session.flush()
    return issue


def row(db, subscriber_id) -> Welcome:
    with db.session() as session:
        return session.scalar(select(Welcome).where(Welcome.subscriber_id == subscriber_id))


def confirmed(db, email="ada@example.com", **extra) -> int:
    with db.session() as session:
        subscriber = make_subscriber(session, email, **extra)
        assert welcome.ask(session, subscriber.id)
        session.commit()
        return subscriber.id


def test_ask_is_once_per_subscriber_and_only_when_on(db):
    ada = confirmed(db)
    with db.session() as session:
        assert not welcome.ask(session, ada)  # a second confirmation, a resubscription
        welcome_mail.update_settings(session, enabled=False, subject="", intro="", catchup_days="14",
                                     counts_as_sent=False)
        bob = make_subscriber(session, "bob@example.com")
        assert not welcome.ask(session, bob.id)
        session.commit()
        assert session.scalar(select(Welcome.subscriber_id)) == ada
        assert len(session.scalars(select(Welcome)).all()) == 1


def test_sent_once_with_the_issue_headers(db, settings, smtp):
    with db.session() as session:
        comparison(session, "Pen", "Writing")
        session.commit()
    ada = confirmed(db, name="Ada")
    assert welcome.deliver(db, settings, ada) == WelcomeStatus.SENT
    assert welcome.deliver(db, settings, ada) == "not due"  # a duplicate message, a retry
    [mail] = smtp.wait_for(1)
    assert mail.envelope_to == ["ada@example.com"]
    headers = mail.message
    assert headers["Subject"] == "Welcome to Weekly AI Tool Verdicts"
    assert headers["List-Id"] == "Weekly AI Tool Verdicts <newsletter.verdicts.test>"
    assert headers["List-Unsubscribe"] == f"<http://newsletter.test/unsubscribe/{ada}/u-ada@example.com>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Message-ID"] == f"<welcome.sub-{ada}@verdicts.test>"
    assert "Auto-Submitted" not in headers  # the same headers as an issue
    assert "Hi Ada," in mail.text and "Pen A vs Pen B" in mail.text and "ada@example.com subscribed" in mail.text
    assert f"/manage/{ada}/" in mail.html
    stored = row(db, ada)
    assert stored.status == WelcomeStatus.SENT and stored.sent_at and stored.attempts == 1
    assert stored.lease_expires_at is None


def test_latest_issue_in_the_readers_categories_in_the_editors_order(db, settings, smtp):
    with db.session() as session:
        comparison(session, "Pen", "Writing", 3)
        comparison(session, "Dev", "Developer Tools", 2)
        comparison(session, "Quill", "Writing", 1)
        issue = went_out(session, "Pen A vs Pen B", "Dev A vs Dev B", "Quill A vs Quill B")
        comparison(session, "Later", "Writing", 0.1)  # published after the issue: not in it
        session.commit()
    writer = confirmed(db, "writer@example.com", categories="Writing")
    welcome.deliver(db, settings, writer)
    [mail] = smtp.wait_for(1)
    titles = [t for t in ("Pen A vs Pen B", "Dev A vs Dev B", "Quill A vs Quill B", "Later A") if t in mail.text]
    assert titles == ["Pen A vs Pen B", "Quill A vs Quill B"]
    assert mail.text.index("Pen A") < mail.text.index("Quill A")
    assert f"what issue #{issue.number} held in your categories" in mail.text
    stored = row(db, writer)
    assert stored.source_issue_id == issue.id and len(stored.comparison_ids.split(",")) == 2


def test_no_issue_yet_the_last_n_days_in_their_categories(db, settings, smtp):
    with db.session() as session:
        comparison(session, "Old", "Writing", 20)
        comparison(session, "Pen", "Writing", 2)
        comparison(session, "Dev", "Developer Tools", 1)
        welcome_mail.update_settings(session, enabled=True, subject="Hello there", intro="First line.\n\nSecond.",
                                     catchup_days="7", counts_as_sent=False)
        session.commit()
    writer = confirmed(db, "writer@example.com", categories="Writing")
    welcome.deliver(db, settings, writer)
    [mail] = smtp.wait_for(1)
    assert mail.subject == "Hello there"
    assert "Pen A vs Pen B" in mail.text and "Old A" not in mail.text and "Dev A" not in mail.text
    assert "verdicts of the last 7 days in your categories" in mail.text
    assert "<p>First line.</p><p>Second.</p>" in mail.html
    assert row(db, writer).source_issue_id is None


def test_nothing_to_carry_is_recorded_not_sent(db, settings, smtp):
    with db.session() as session:
        comparison(session, "Dev", "Developer Tools", 1)
        comparison(session, "Pen", "Writing", 40)  # older than N days
        session.commit()
    writer = confirmed(db, "writer@example.com", categories="Writing")
    assert welcome.deliver(db, settings, writer) == WelcomeStatus.EMPTY
    assert welcome.deliver(db, settings, writer) == "not due"
    assert smtp.messages() == []
    assert row(db, writer).last_reply == "nothing to catch up on in their categories"


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED,
                                    SubscriberStatus.COMPLAINED])
def test_suppressed_readers_get_nothing(db, settings, smtp, status):
    with db.session() as session:
        comparison(session, "Pen", "Writing")
        session.commit()
    ada = confirmed(db)
    with db.session() as session:
        session.execute(update(Subscriber).where(Subscriber.id == ada).values(status=status))
        session.commit()
    assert welcome.deliver(db, settings, ada) == WelcomeStatus.SKIPPED
    assert smtp.messages() == [] and row(db, ada).last_reply == "no longer subscribed"


def test_a_live_claim_is_left_alone_and_an_expired_one_retaken(db, settings, smtp):
    with db.session() as session:
        comparison(session, "Pen", "Writing")
        session.commit()
    ada = confirmed(db)
    with db.session() as session:
        claimed = welcome.claim(session, settings, ada)  # a worker that then died, before the relay
        session.commit()
    assert claimed.attempts == 1
    assert welcome.deliver(db, settings, ada) == "not due"
    with db.session() as session:
        assert welcome.lost(session) == []
        later = claimed.lease + timedelta(seconds=1)
        assert welcome.lost(session, later) == [ada]
    assert welcome.deliver(db, settings, ada, now=later) == WelcomeStatus.SENT
    assert len(smtp.wait_for(1)) == 1
    with db.session() as session:  # the dead worker's late write changes nothing
        assert not welcome.finish(session, claimed, WelcomeStatus.FAILED, "too late")
    assert row(db, ada).status == WelcomeStatus.SENT and row(db, ada).attempts == 2


def test_the_relays_verdicts(db, env):
    relay = ScriptedSmtpServer(replies={
        ("rcpt", "gone@example.com"): "550 5.1.1 no such user",
        ("rcpt", "later@example.com"): "451 4.3.0 try again later",
    }).start()
    try:
        settings = load_settings({**env, "SMTP_PORT": str(relay.port), "SEND_RETRY_BASE_SECONDS": "60"})
        with db.session() as session:
            comparison(session, "Pen", "Writing")
            session.commit()
        gone, later = confirmed(db, "gone@example.com"), confirmed(db, "later@example.com")
        assert welcome.deliver(db, settings, gone) == WelcomeStatus.BOUNCED
        assert welcome.deliver(db, settings, later) == WelcomeStatus.DEFERRED
        with db.session() as session:
            assert session.get(Subscriber, gone).status == SubscriberStatus.BOUNCED
            assert session.get(Subscriber, later).status == SubscriberStatus.CONFIRMED
            assert welcome.lost(session) == []
            assert welcome.lost(session, utcnow() + timedelta(seconds=61)) == [later]
        assert "451" in row(db, later).last_reply and relay.messages == []
    finally:
        relay.stop()


def test_settings_are_checked_and_store_nothing_when_bad(session):
    for bad in ({"subject": "Two\r\nBcc: x@example.com"}, {"subject": "x" * 301}, {"catchup_days": "0"},
                {"catchup_days": "soon"}, {"intro": "nul \x00 byte"}):
        values = dict(enabled=True, subject="", intro="", catchup_days="14", counts_as_sent=False) | bad
        with pytest.raises(welcome_mail.WelcomeSettingsError):
            welcome_mail.update_settings(session, **values)
    session.rollback()
    stored = welcome_mail.get_settings(session)
    assert (stored.enabled, stored.subject, stored.catchup_days, stored.counts_as_sent) == (True, "", 14, False)


def test_a_welcome_bounce_comes_back_to_its_reader(db, env, smtp):
    """Its own VERP kind names the subscriber, so a late bounce suppresses them like an issue's."""
    from newsletter.feedback import policy
    from newsletter.feedback.hooks import make_event
    from newsletter.feedback.models import FeedbackKind, FeedbackSource
    from newsletter.mail.compose import Composer
    from newsletter.mail.verp import BounceAddress

    settings = load_settings({**env, "BOUNCE_DOMAIN": "bounces.verdicts.test"})
    with db.session() as session:
        comparison(session, "Pen", "Writing")
        session.commit()
    ada = confirmed(db)
    assert welcome.deliver(db, settings, ada) == WelcomeStatus.SENT
    sender = smtp.wait_for(1)[0].envelope_from
    verp = Composer(settings).verp
    assert verp.parse(sender) == BounceAddress("w", str(ada))
    event = make_event(FeedbackSource.SMTP, "bounce-1", FeedbackKind.HARD_BOUNCE, verp=verp, envelope_sender=sender,
                       reason="550 5.1.1 mailbox gone")
    with db.session() as session:
        assert policy.apply(session, settings, event).recorded
        session.commit()
        assert session.get(Subscriber, ada).status == SubscriberStatus.BOUNCED


def test_erasure_takes_the_welcome_row_with_it(db, settings):
    from newsletter.delivery.recipient import erase_person

    ada = confirmed(db)
    with db.session() as session:
        assert erase_person(session, settings.secret_key, ada, "editor")
        session.commit()
    assert row(db, ada) is None


def test_a_template_error_backs_off_instead_of_spinning(db, settings, smtp, monkeypatch):
    from newsletter.mail.rendering import RenderError

    def broken(*args, **kwargs):
        raise RenderError("welcome.mjml: MJML could not be rendered: boom")

    with db.session() as session:
        comparison(session, "Pen", "Writing")
        session.commit()
    ada = confirmed(db)
    monkeypatch.setattr(welcome_mail, "render_welcome", broken)
    assert welcome.deliver(db, settings, ada) == WelcomeStatus.DEFERRED
    stored = row(db, ada)
    assert "cannot render" in stored.last_reply and stored.next_attempt_at > utcnow() and smtp.messages() == []
