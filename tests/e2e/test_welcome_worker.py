"""The welcome mail from real worker processes: confirmed through the real view, sent on
the `mail` queue, and sent exactly once to every reader although the worker is
SIGKILLed while the relay holds one of them at DATA (before it accepted)."""
from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
from conftest import csrf_token, free_port
from sqlalchemy import select
from support.audience import make_subscriber
from support.delivery import purge_broker
from support.issues import make_comparison
from support.processes import kill_whole

from newsletter.audience import tokens
from newsletter.db import utcnow
from newsletter.dev.catcher import MailCatcher, _MaildirHandler
from newsletter.models import SubscriberStatus, Welcome, WelcomeStatus
from workers.readers import sweep_welcomes

pytestmark = pytest.mark.worker
READERS = 12
HELD = 5  # the reader whose welcome is in flight when the worker dies


def reader(i: int) -> str:
    return f"welcome{i:02d}@example.com"


class HoldingHandler(_MaildirHandler):
    """Holds the DATA of one recipient until released; then refuses it, storing nothing
    (the client that sent it is dead by then)."""

    def __init__(self, maildir, refuse):
        super().__init__(maildir, refuse)
        self.hold = reader(HELD)
        self.held = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.hold and self.hold in [a.lower() for a in envelope.rcpt_tos]:
            self.held.set()
            while self.hold:
                await asyncio.sleep(0.05)
            return "451 4.3.0 held and let go"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def relay_port():
    return free_port()


@pytest.fixture
def env(env, relay_port):
    # A short lease (1 s + 3 × SMTP_TIMEOUT) so the dead worker's claim is due again soon.
    return {**env, "SMTP_PORT": str(relay_port), "SMTP_TIMEOUT": "3", "SEND_LEASE_SECONDS": "1"}


@pytest.fixture
def relay(tmp_path, relay_port):
    server = MailCatcher(tmp_path / "relay", port=relay_port)
    server.handler = HoldingHandler(server.maildir, server.refuse)
    server.controller.handler = server.handler
    server.start()
    yield server
    server.handler.hold = ""
    server.stop()


def _confirm_all(client, db, settings) -> list[int]:
    """Pending readers, each confirmed through the real view (which asks for the welcome)."""
    with db.session() as session:
        make_comparison(session, "Pen", "Quill", published_at=utcnow())
        pending = [make_subscriber(session, reader(i), status=SubscriberStatus.PENDING, name="",
                                   confirm_nonce=f"nonce{i:02d}") for i in range(READERS)]
        ids = [s.id for s in pending]
        session.commit()
    for i, subscriber_id in enumerate(ids):
        path = "/confirm/" + tokens.make_confirm_token(settings.secret_key, subscriber_id, f"nonce{i:02d}")
        assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 200
    return ids


def _rows(db) -> dict[int, tuple[str, int]]:
    with db.session() as session:
        return {r.subscriber_id: (r.status, r.attempts) for r in session.scalars(select(Welcome))}


def test_every_reader_gets_one_welcome_across_a_sigkill(app, db, settings, client, relay, worker_process,
                                                        celery_app):
    purge_broker(celery_app)
    first = worker_process("-Q", "mail", "--concurrency", "1")
    ids = _confirm_all(client, db, settings)  # the view enqueues send_welcome after each commit
    assert relay.handler.held.wait(60), "the held reader's welcome never reached DATA"
    kill_whole(first)  # the whole worker, as a machine crash would
    relay.handler.hold = ""
    before = Counter(to.lower() for m in relay.messages() for to in m.envelope_to)
    assert reader(HELD) not in before and 0 < len(before) < READERS, "the kill must land mid-way"
    assert _rows(db)[ids[HELD]] == (WelcomeStatus.SENDING, 1)  # claimed by the dead worker

    worker_process("-Q", "mail", "--concurrency", "1")
    deadline = time.monotonic() + 90
    while any(status != WelcomeStatus.SENT for status, _ in _rows(db).values()):
        assert time.monotonic() < deadline, f"not all sent: {_rows(db)}"
        sweep_welcomes.apply(kwargs={"pending_seconds": 0})  # the beat's sweep, run often (and early)
        time.sleep(0.5)

    got = Counter(to.lower() for m in relay.messages() for to in m.envelope_to)
    assert got == {reader(i): 1 for i in range(READERS)}
    assert _rows(db)[ids[HELD]] == (WelcomeStatus.SENT, 2)  # retaken once its lease expired
    assert all(m.subject == "Welcome to Weekly AI Tool Verdicts" and "Pen vs Quill" in m.text
               for m in relay.messages())
