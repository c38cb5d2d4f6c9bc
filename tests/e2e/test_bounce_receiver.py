"""`newsletter bounces` as a real process, after a real send: the envelope senders are
read from what the test SMTP server received, and bounce mails written in each
format go back to them over SMTP."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import free_port
from sqlalchemy import delete, func, select
from support import bounces
from support.delivery import address, make_sending_issue, make_subscribers
from support.feedback import apply_inbox
from support.receiver import bounce_receiver, deliver

from newsletter.delivery import engine
from newsletter.feedback.models import FeedbackEvent, InboundMessage, InboxEntry
from newsletter.mail.verp import Verp
from newsletter.models import Delivery, Subscriber

DOMAIN = "bounces.verdicts.test"


@pytest.fixture
def env(env):
    return {**env, "BOUNCE_DOMAIN": DOMAIN, "BOUNCE_LISTEN": f"127.0.0.1:{free_port()}"}


@pytest.fixture
def receiver(env, tmp_path):
    with bounce_receiver(env, tmp_path / "bounces.log") as where:
        yield where


@pytest.fixture
def sent(app, db, session, smtp, settings):
    """A real send of an issue to 8 subscribers: {address: (envelope sender, Message-ID)}
    as the test SMTP server received them."""
    make_subscribers(session, 8)
    issue_id = make_sending_issue(session)
    session.commit()
    from newsletter.delivery import ledger

    with db.session() as s:
        ledger.start(s, issue_id)
        s.commit()
    engine.run(db, settings, issue_id)
    messages = smtp.wait_for(8)
    copies = {m.envelope_to[0]: (m.envelope_from, m.message["Message-ID"].strip("<>")) for m in messages}
    assert len(copies) == 8
    return copies


def status_of(settings, db, email):
    """The reader's status once the worker's step applied what the receiver stored."""
    apply_inbox(db, settings)
    with db.session() as s:
        return s.scalar(select(Subscriber.status).where(Subscriber.email == email))


def counts(settings, db):
    """(events, kept mails) once the worker's step applied what the receiver stored."""
    apply_inbox(db, settings)
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(FeedbackEvent)),
                s.scalar(select(func.count()).select_from(InboundMessage)))


def test_each_copy_left_with_its_own_verified_envelope_sender(sent, settings, db):
    verp = Verp(settings.secret_key, DOMAIN)
    with db.session() as s:
        by_email = {row.email: row for row in s.execute(
            select(Subscriber.email, Delivery.id, Delivery.subscriber_id).join(Delivery))}
    for email, (sender, _) in sent.items():
        assert sender.endswith("@" + DOMAIN)
        named = verp.parse(sender)
        assert (named.delivery_id, named.subscriber_id) == (by_email[email].id, by_email[email].subscriber_id)


def bounce(receiver, sent, n, make, **kwargs) -> int:
    """Write a bounce of kind `make` about reader n's copy and deliver it to its envelope sender."""
    to, message_id = sent[address(n)]
    return deliver(receiver, to, make(to, address(n), message_id=message_id, **kwargs))[0]


def test_bounces_over_smtp_to_the_real_receiver(sent, receiver, db, settings):
    # An RFC 3464 report: hard bounce, suppressed.
    assert bounce(receiver, sent, 0, bounces.dsn) == 250
    assert status_of(settings, db, address(0)) == "bounced"
    # The same report again (the sender's server retried): recorded once.
    assert bounce(receiver, sent, 0, bounces.dsn) == 250
    assert counts(settings, db) == (1, 0)
    # An abuse report: complained.
    assert bounce(receiver, sent, 1, bounces.arf) == 250
    assert status_of(settings, db, address(1)) == "complained"
    # The non-standard ones: Exim, qmail, Microsoft, Gmail.
    for n, make in zip((2, 3, 4, 5), (bounces.exim, bounces.qmail, bounces.microsoft, bounces.gmail)):
        assert bounce(receiver, sent, n, make) == 250
        assert status_of(settings, db, address(n)) == "bounced", make.__name__
    # A delay warning: counted, not suppressed.
    assert bounce(receiver, sent, 6, bounces.dsn, action="delayed", status="4.4.1") == 250
    assert status_of(settings, db, address(6)) == "confirmed"
    assert counts(settings, db) == (7, 0)
    with db.session() as s:
        kinds = sorted(s.scalars(select(FeedbackEvent.kind)))
    assert kinds == ["complaint"] + ["hard_bounce"] * 5 + ["soft_bounce"]


def test_a_report_whose_returned_copy_is_another_copy_is_kept_not_acted_on(sent, receiver, db, settings):
    to, _ = sent[address(0)]
    _, other_message_id = sent[address(1)]
    assert deliver(receiver, to, bounces.dsn(to, address(0), message_id=other_message_id))[0] == 250
    assert status_of(settings, db, address(0)) == status_of(settings, db, address(1)) == "confirmed"
    assert counts(settings, db) == (0, 1)


def test_an_auto_reply_is_ignored_and_an_unreadable_mail_kept(sent, receiver, db, settings):
    to, _ = sent[address(0)]
    assert deliver(receiver, to, bounces.auto_reply(to), sender="reader00000@example.com")[0] == 250
    assert status_of(settings, db, address(0)) == "confirmed"
    assert deliver(receiver, to, bounces.auto_reply(to, header="X-Mailer: x", subject="Re: thanks!"))[0] == 250
    assert status_of(settings, db, address(0)) == "confirmed"
    with db.session() as s:
        kept = {m.disposition: m for m in s.scalars(select(InboundMessage))}
        assert set(kept) == {"ignored", "unparsed"}
        assert kept["ignored"].raw == b"" and b"Re: thanks!" in kept["unparsed"].raw
        assert kept["unparsed"].envelope_to == to.lower() or kept["unparsed"].envelope_to == to
    assert counts(settings, db)[0] == 0


def test_a_dsn_for_a_deleted_subscriber_changes_nothing(sent, receiver, db, settings):
    with db.session() as s:
        s.execute(delete(Subscriber).where(Subscriber.email == address(7)))
        s.commit()
    assert bounce(receiver, sent, 7, bounces.dsn) == 250
    assert counts(settings, db) == (0, 0)


def test_forged_and_foreign_addresses_are_refused_at_rcpt(sent, receiver, db, settings):
    real, _ = sent[address(0)]
    forged = real.replace("b-", "b-9", 1)
    for to in (forged, f"postmaster@{DOMAIN}", address(1), "b-1-aaaaaaaaaa@" + DOMAIN):
        code, _ = deliver(receiver, to, bounces.dsn(to, address(0), message_id=sent[address(0)][1]))
        assert code == 550, to
    assert counts(settings, db) == (0, 0) and status_of(settings, db, address(0)) == "confirmed"


def test_a_20_mb_message_is_refused_for_its_size(sent, receiver, db, settings):
    to, message_id = sent[address(0)]
    huge = bounces.dsn(to, address(0), message_id=message_id) + b"x" * 76 + (b"\r\n" + b"x" * 76) * (20 * 1024 * 1024 // 78)
    code, text = deliver(receiver, to, huge)
    assert code == 552, text
    assert counts(settings, db) == (0, 0) and status_of(settings, db, address(0)) == "confirmed"
    # The receiver is still up and still answering.
    assert bounce(receiver, sent, 0, bounces.dsn) == 250 and status_of(settings, db, address(0)) == "bounced"


@pytest.mark.worker
def test_the_scheduler_hands_stored_bounces_to_a_worker(sent, receiver, db, worker_process, scheduler):
    """Nothing but the real processes: the receiver stores, the scheduler's relay sees
    the entries, a worker applies them; nobody in the test applies anything."""
    worker_process("-Q", "default", "--concurrency", "1")
    for n in (0, 1, 2):
        assert bounce(receiver, sent, n, bounces.dsn) == 250
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with db.session() as s:
            left = s.scalar(select(func.count()).select_from(InboxEntry))
            bounced = s.scalar(select(func.count()).where(Subscriber.status == "bounced"))
        if (left, bounced) == (0, 3):
            break
        time.sleep(0.2)
    assert (left, bounced) == (0, 3)


def test_several_receiver_processes_share_the_port(sent, env, tmp_path, db, settings):
    """`--processes 3`: every mail over parallel connections is stored once, whichever
    process took it, and the whole stops on SIGTERM."""
    log = tmp_path / "many.log"

    def listening() -> set[str]:
        return {line.split()[3] for line in log.read_text().splitlines() if "receiving bounces" in line}

    with bounce_receiver(env, log, "--processes", "3") as where:
        deadline = time.monotonic() + 30
        while len(listening()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening() == {"bounces-0", "bounces-1", "bounces-2"}, log.read_text()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda n: bounce(where, sent, n, bounces.dsn), range(8)))
        assert codes == [250] * 8
        assert counts(settings, db) == (8, 0)
