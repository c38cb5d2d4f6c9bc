"""The receiver in-process: what it answers when the database cannot take the mail, that
a retried mail is stored again but applied once, and that its quick reading of SMTP
paths is aiosmtpd's."""
from __future__ import annotations

import random

import pytest
from conftest import free_port
from sqlalchemy import func, select
from support import bounces
from support.delivery import sent_to
from support.feedback import apply_inbox, bounce_settings
from support.receiver import deliver

from newsletter.db import Database
from newsletter.feedback import receiver
from newsletter.feedback.models import FeedbackEvent, InboxEntry
from newsletter.mail.verp import Verp


@pytest.fixture
def settings(env):
    return bounce_settings(env, BOUNCE_LISTEN=f"127.0.0.1:{free_port()}")


def serving(db, settings):
    server, handler = receiver.controller(db, settings)
    server.start()
    return server, handler, (server.hostname, server.port)


def test_a_database_outage_is_a_451_and_the_retry_is_stored(db, session, settings):
    issue_id, deliveries, subscribers = sent_to(session, 1)
    to = Verp(settings.secret_key, settings.bounce_domain).address("b", deliveries[0])
    mail = bounces.dsn(to, "reader00000@example.com", message_id=f"issue-{issue_id}.sub-{subscribers[0]}@verdicts.test")
    down = Database(f"postgresql+psycopg://127.0.0.1:{free_port()}/nowhere")
    server, handler, where = serving(down, settings)
    try:
        code, text = deliver(where, to, mail)
    finally:
        server.stop()
        handler.close()
        down.engine.dispose()
    assert code == 451 and "try again later" in text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxEntry)) == 0
    server, handler, where = serving(db, settings)
    try:
        assert deliver(where, to, mail)[0] == 250
        assert deliver(where, to, mail)[0] == 250  # the sender's server was not sure, and sent it again
    finally:
        server.stop()
        handler.close()
    assert apply_inbox(db, settings).applied == 2
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(FeedbackEvent)) == 1


PATHS = ["<>", "<> SIZE=100", "<b-1s2-abcdefghij@bounces.example.com>", "<B-1@X.com>  SIZE=5 BODY=8BITMIME",
         "<a.b+c@d.e>", "a@b.c", "<a@b>junk", '<"a b"@c.d>', "<a..b@c.d>", "<a@[1.2.3.4]>", "<@route:a@b.c>",
         "< a@b.c >", "<a@b.c", "<a(comment)@b.c>", "<a@b.c.>", "<a@b.c> (x) SIZE=1", "<>a@b", ""]


def _path_readers():
    from aiosmtpd.smtp import SMTP

    ours, theirs = receiver._SMTP.__new__(receiver._SMTP), SMTP.__new__(SMTP)
    ours.local_part_limit = theirs.local_part_limit = 0
    return ours, theirs


def test_the_quick_path_reading_gives_what_aiosmtpd_gives():
    """The receiver reads plain MAIL FROM / RCPT TO paths itself; on these and on 20,000
    random ones it must answer exactly as aiosmtpd's own parser (or an upgrade of
    aiosmtpd changed its reading, and the quick path must follow)."""
    ours, theirs = _path_readers()
    rnd = random.Random(2026)
    pieces = ["<", ">", "@", ".", " ", "\t", "a", "B", "1", "-", "+", '"', "(", ")", ":", "[", "]", "SIZE=5", ","]

    def some(n):
        return "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, n)))

    made = [f"<{some(6)}@{some(6)}>{some(3)}" if rnd.random() < 0.5 else some(12) for _ in range(20000)]
    for arg in PATHS + made:
        assert _read(ours, arg) == _read(theirs, arg), arg


def _read(reader, arg: str):
    try:
        return reader._getaddr(arg)
    except Exception as exc:  # noqa: BLE001 - aiosmtpd's parser raises on some inputs: ours must too
        return type(exc).__name__
