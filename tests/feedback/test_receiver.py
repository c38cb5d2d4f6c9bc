"""The receiver in-process: what it answers when the database cannot take the mail, and
that a retried mail is stored again but applied once."""
from __future__ import annotations

import pytest
from conftest import free_port
from sqlalchemy import func, select
from support import bounces
from support.delivery import sent_to
from support.feedback import apply_inbox
from support.receiver import deliver

from newsletter.config import load_settings
from newsletter.db import Database
from newsletter.feedback import receiver
from newsletter.feedback.models import FeedbackEvent, InboxEntry
from newsletter.mail.verp import Verp


@pytest.fixture
def settings(env):
    return load_settings({**env, "BOUNCE_DOMAIN": "bounces.verdicts.test",
                          "BOUNCE_LISTEN": f"127.0.0.1:{free_port()}"})


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
