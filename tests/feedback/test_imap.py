"""BOUNCE_IMAP_URL: the mailbox poller against a real IMAP server over TLS."""
from __future__ import annotations

import imaplib
import ssl

import pytest
from sqlalchemy import func, select
from support import bounces
from support.delivery import make_sending_issue, make_subscribers
from support.feedback import apply_inbox, bounce_settings
from support.imap_server import ImapServer

from newsletter.db import utcnow
from newsletter.delivery import ledger
from newsletter.feedback import imap
from newsletter.feedback.models import FeedbackEvent, InboundMessage
from newsletter.mail.verp import Verp
from newsletter.models import Delivery, Subscriber


@pytest.fixture
def mailbox(tmp_path, monkeypatch):
    server = ImapServer(tmp_path, "bounces@verdicts.test", "p@ss word").start()
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # the poller trusts only the system's CAs
    yield server
    server.stop()


@pytest.fixture
def settings(env, mailbox):
    return bounce_settings(
        env, BOUNCE_IMAP_URL=f"imaps://bounces%40verdicts.test:p%40ss%20word@localhost:{mailbox.port}/INBOX")


@pytest.fixture
def copies(session, settings):
    """An issue sent to two readers: [(VERP address, their email, the copy's Message-ID)]."""
    make_subscribers(session, 2)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id)
    session.execute(Delivery.__table__.update().values(status="sent", sent_at=utcnow()))
    session.commit()
    verp = Verp(settings.secret_key, settings.bounce_domain)
    rows = session.execute(select(Delivery.id, Delivery.subscriber_id, Subscriber.email)
                           .join(Subscriber, Subscriber.id == Delivery.subscriber_id).order_by(Delivery.id))
    return [(verp.address("b", d), email, f"issue-{issue_id}.sub-{s}@verdicts.test") for d, s, email in rows]


def counts(db) -> tuple[int, int, int]:
    """(events, kept messages, bounced subscribers)."""
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(FeedbackEvent)),
                s.scalar(select(func.count()).select_from(InboundMessage)),
                s.scalar(select(func.count()).where(Subscriber.status == "bounced")))


def test_unseen_mail_is_read_acted_on_once_and_flagged_seen(db, settings, mailbox, copies):
    (to, email, message_id), _ = copies
    mailbox.add(bounces.dsn(to, email, message_id=message_id))
    mailbox.add(bounces.auto_reply(to))
    mailbox.add(bounces.dsn("someone@elsewhere.example", email, message_id=message_id))
    assert imap.poll_once(db, settings) == 3
    assert mailbox.seen() == [1, 2, 3]
    assert counts(db) == (0, 1, 0)  # the stranger's mail kept at once; ours wait in the inbox
    assert apply_inbox(db, settings).applied == 2
    assert counts(db) == (1, 2, 1)  # the bounce acted on; the auto-reply and the stranger's mail kept
    assert imap.poll_once(db, settings) == 0
    assert apply_inbox(db, settings).applied == 0
    assert counts(db) == (1, 2, 1)


def test_mail_read_again_after_a_lost_flag_counts_once(db, settings, mailbox, copies):
    """Committed, then the flag never reached the server: the next poll reads the mail
    again, and the same mail makes the same event, so nothing is recorded twice."""
    _, (to, email, message_id) = copies
    mailbox.add(bounces.dsn(to, email, message_id=message_id))
    mailbox.fail_store = 1
    assert imap.poll_once(db, settings) == 1
    assert apply_inbox(db, settings).applied == 1
    assert mailbox.seen() == [] and counts(db) == (1, 0, 1)
    assert imap.poll_once(db, settings) == 1
    assert apply_inbox(db, settings).applied == 1
    assert mailbox.seen() == [1] and counts(db) == (1, 0, 1)


def test_a_wrong_password_or_an_untrusted_certificate_stores_nothing(db, settings, mailbox, copies, monkeypatch):
    to, email, message_id = copies[0]
    mailbox.add(bounces.dsn(to, email, message_id=message_id))
    mailbox.password = "changed"
    with pytest.raises(imaplib.IMAP4.error):
        imap.poll_once(db, settings)
    mailbox.password = "p@ss word"
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(ssl.SSLCertVerificationError):
        imap.poll_once(db, settings)
    assert apply_inbox(db, settings).applied == 0
    assert counts(db) == (0, 0, 0) and mailbox.seen() == []
