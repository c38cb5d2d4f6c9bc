"""A batch's copies on one connection, each announced behind the previous body
(`delivery.stream`), against a relay of our own that offers PIPELINING and shows
what arrived in one write."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from support.delivery import FAST_RETRIES, address, make_sending_issue, make_subscribers, status_counts
from support.smtp_server import ScriptedSmtpServer

from newsletter.config import load_settings
from newsletter.delivery import engine, ledger
from newsletter.models import Delivery, Subscriber


@pytest.fixture
def relay():
    server = ScriptedSmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def relay_settings(env, relay):
    return load_settings({**env, **FAST_RETRIES, "SMTP_PORT": str(relay.port), "SEND_BATCH_SIZE": "20",
                          "PACING_GROUPS": ""})


def _issue_to(session, count: int, settings) -> int:
    make_subscribers(session, count)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id, settings=settings)
    session.commit()
    return issue_id


def _announced_behind_a_body(relay) -> int:
    """Writes that carried a body's end and the next copy's envelope together."""
    return sum(chunk.count(b"\r\n.\r\nMAIL FROM:<") for chunk in relay.chunks)


def test_each_copy_of_a_batch_announces_the_next(app, db, session, relay, relay_settings):
    issue_id = _issue_to(session, 45, relay_settings)
    result = engine.run(db, relay_settings, issue_id)
    assert result.sent == 45 and status_counts(db, issue_id) == {"sent": 45}
    assert sorted(r for m in relay.messages for r in m.recipients) == [address(i) for i in range(45)]
    # Batches of 20, 20 and 5: every copy but each batch's last went out behind a body.
    assert _announced_behind_a_body(relay) == 45 - 3


@pytest.mark.parametrize("reply", ["451 4.7.1 slow down", "421 4.7.0 too many messages, closing"])
def test_a_throttle_hands_the_announced_copy_back_untried(app, db, session, relay, relay_settings, reply):
    """The copy announced behind a throttled body got its envelope but never its body's
    final dot: it is not delivered, goes back with its attempt, and arrives once later."""
    issue_id = _issue_to(session, 30, relay_settings)
    relay.replies[("data", address(3))] = reply
    engine.run(db, relay_settings, issue_id, budget_seconds=0)
    assert sorted(r for m in relay.messages for r in m.recipients) == [address(i) for i in range(3)]
    with db.session() as s:
        by_email = {email: (status, attempts, throttles) for email, status, attempts, throttles in s.execute(
            select(Subscriber.email, Delivery.status, Delivery.attempts, Delivery.throttles)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Delivery.issue_id == issue_id))}
    assert by_email[address(3)] == ("deferred", 0, 1)  # throttled: no attempt spent
    assert by_email[address(4)] == ("pending", 0, 0)  # announced, handed back untried
    # Again mid-run: the run goes on after the throttle, on a connection that must
    # not be left waiting for the announced copy's body.
    relay.replies[("data", address(12))] = reply
    engine.run(db, relay_settings, issue_id, budget_seconds=3)
    relay.replies.clear()
    deadline = time.monotonic() + 30
    while status_counts(db, issue_id) != {"sent": 30} and time.monotonic() < deadline:
        engine.run(db, relay_settings, issue_id, budget_seconds=5)
        time.sleep(0.2)
    assert status_counts(db, issue_id) == {"sent": 30}
    got = [r for m in relay.messages for r in m.recipients]
    assert sorted(got) == [address(i) for i in range(30)]  # each exactly once
