"""The delivery engine under faults: a worker killed mid-send, a relay that is down
then back, workers racing, a relay that refuses us, a shared rate limit.

Real `celery worker` processes send to an aiosmtpd relay on a port of this test's
own, which each test starts (slowed down a little, so a kill lands mid-send) when
it wants the relay to be up.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import free_port
from support.delivery import (
    FAST_RETRIES,
    address,
    drive,
    issue_status,
    recipients,
    sending_issue_to,
    status_counts,
)
from support.processes import children as _children

from newsletter.config import load_settings
from newsletter.delivery import engine, ledger
from newsletter.dev.catcher import MailCatcher, _MaildirHandler
from workers.delivery import dispatch_issue

pytestmark = pytest.mark.worker


class SlowHandler(_MaildirHandler):
    """Takes `delay` seconds per message, like a real relay, so a kill lands mid-send."""

    delay = 0.004

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class Relay(MailCatcher):
    def __init__(self, directory, port: int, handler_cls=SlowHandler, **controller_kwargs):
        super().__init__(directory, port=port)
        self.handler = handler_cls(self.maildir, self.refuse)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port, **controller_kwargs)


@pytest.fixture
def relay_port():
    return free_port()


@pytest.fixture
def env(env, relay_port):
    return {**env, **FAST_RETRIES, "SMTP_PORT": str(relay_port), "SEND_BATCH_SIZE": "25",
            "SEND_PARALLEL_BATCHES": "4", "SEND_LEASE_SECONDS": "4"}


@pytest.fixture
def relay(tmp_path, relay_port):
    started = []

    def start(handler_cls=SlowHandler, **kwargs) -> Relay:
        server = Relay(tmp_path / f"relay{len(started)}", relay_port, handler_cls, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_worker_killed_mid_send(app, db, session, relay, worker_process):
    server = relay()
    issue_id = sending_issue_to(session, 300)
    first = worker_process("--concurrency", "2")
    dispatch_issue.delay(issue_id)
    deadline = time.monotonic() + 60
    while len(server.messages()) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in [first.pid, *_children(first.pid)]:  # the whole worker, as a machine crash would
        os.kill(pid, signal.SIGKILL)
    first.wait()
    time.sleep(0.5)
    received_at_kill = len(server.messages())
    in_flight = received_at_kill - status_counts(db, issue_id).get("sent", 0)
    assert 0 < received_at_kill < 300, "the kill must land mid-send"
    worker_process("--concurrency", "2")
    assert drive(db, issue_id, timeout=90) == "sent"
    got = recipients(server)
    assert set(got) == {address(i) for i in range(300)}
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= in_flight <= 2 * engine.FLUSH_EVERY + 2
    assert status_counts(db, issue_id) == {"sent": 300}


class SlowerHandler(SlowHandler):
    delay = 0.15


def test_a_slow_relay_never_loses_the_lease(app, db, session, relay, worker_process, env):
    """A batch takes longer than the lease (25 messages at 0.15 s against 2 s): the
    heartbeat renews it, so the sweeper never hands its rows to another worker and
    nobody gets the issue twice. Without renewal the sweeper re-queued them mid-batch."""
    server = relay(SlowerHandler)
    issue_id = sending_issue_to(session, 60)
    worker_process("--concurrency", "2", env={**env, "SEND_LEASE_SECONDS": "2"})
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=120, every=0.3) == "sent"
    got = recipients(server)
    assert set(got) == {address(i) for i in range(60)}
    assert max(got.values()) == 1, f"sent twice: {[a for a, n in got.items() if n > 1]}"


@pytest.mark.postgresql_only
def test_a_killed_worker_costs_about_a_minute_at_the_default_lease(app, db, session, relay, worker_process, env):
    """With the shipped SEND_LEASE_SECONDS and the sweeper at its beat cadence (15 s),
    the rows a dead worker held are sent by another within about a minute (it was 11)."""
    defaults = {k: v for k, v in env.items() if k != "SEND_LEASE_SECONDS"}
    lease = load_settings(defaults).send_lease_seconds
    server = relay()
    issue_id = sending_issue_to(session, 300)
    first = worker_process("--concurrency", "2", env=defaults)
    dispatch_issue.delay(issue_id)
    deadline = time.monotonic() + 60
    while len(server.messages()) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in [first.pid, *_children(first.pid)]:
        os.kill(pid, signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    assert len(server.messages()) < 300, "the kill must land mid-send"
    worker_process("--concurrency", "2", env=defaults)
    assert drive(db, issue_id, timeout=3 * lease, every=15) == "sent"
    recovered_in = time.monotonic() - killed_at
    print(f"recovered {recovered_in:.0f} s after the kill, lease {lease} s")
    assert lease <= 60 and recovered_in <= lease + 15 + 10
    assert set(recipients(server)) == {address(i) for i in range(300)}


def test_relay_down_then_back(app, db, session, relay, worker_process):
    issue_id = sending_issue_to(session, 80)
    worker_process("--concurrency", "2")
    dispatch_issue.delay(issue_id)
    deadline, counts = time.monotonic() + 30, {}
    while time.monotonic() < deadline:  # one reading: a second one races the next retry's claim
        counts = status_counts(db, issue_id)
        if counts.get("deferred", 0) == 80:
            break
        time.sleep(0.1)
    assert counts == {"deferred": 80}  # connection refused: every row waits
    time.sleep(1.5)  # a few retries against the closed port
    server = relay()
    assert drive(db, issue_id, timeout=60) == "sent"
    got = recipients(server)
    assert set(got) == {address(i) for i in range(80)} and set(got.values()) == {1}
    assert status_counts(db, issue_id) == {"sent": 80}


def test_double_dispatch_and_racing_workers(app, db, session, relay, worker_process):
    server = relay()
    issue_id = sending_issue_to(session, 300)
    worker_process("--concurrency", "2")
    worker_process("--concurrency", "2")
    dispatch_issue.delay(issue_id)
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=90) == "sent"
    got = recipients(server)
    assert len(got) == 300 and set(got.values()) == {1}


class RefuseSender(SlowHandler):
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        return "550 5.7.1 sender not allowed to relay"


def _deny(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


@pytest.mark.parametrize("kind", ["auth", "mail-from"])
def test_relay_refusing_us_pauses_the_issue(app, db, session, relay, env, kind):
    if kind == "auth":
        server = relay(authenticator=_deny, auth_require_tls=False)
        settings = load_settings({**env, "SMTP_USERNAME": "newsletter", "SMTP_PASSWORD": "wrong"})
        expected = "535"
    else:
        server = relay(RefuseSender)
        settings = load_settings(env)
        expected = "550 5.7.1 sender not allowed to relay"
    issue_id = sending_issue_to(session, 30)
    ledger.start(session, issue_id)
    session.commit()
    result = engine.run(db, settings, issue_id)
    assert result.stopped == "paused" and result.sent == 0
    assert issue_status(db, issue_id) == "paused"
    with db.session() as s:
        from newsletter.models import Delivery, Issue

        assert expected in s.get(Issue, issue_id).pause_reason
        rows = s.query(Delivery.status, Delivery.attempts).all()
    assert Counter(rows) == Counter({("pending", 0): 30}), "no recipient may be marked"
    assert server.messages() == []


@pytest.mark.redis_only
def test_rate_limit_is_shared_by_workers(app, db, session, relay, env):
    server = relay()
    issue_id = sending_issue_to(session, 60)
    ledger.start(session, issue_id)
    session.commit()
    settings = load_settings({**env, "SEND_RATE_LIMIT": "20", "SEND_BATCH_SIZE": "10"})
    started = time.monotonic()
    threads = [threading.Thread(target=engine.run, args=(db, settings, issue_id)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert len(server.messages()) == 60
    assert elapsed >= (60 - 4) / 20 * 0.95, f"60 messages at 20/s took only {elapsed:.2f}s"
    stamps = sorted(m.received_at for m in server.messages())
    worst = max(sum(1 for t in stamps if s <= t < s + 1) for s in stamps)
    assert worst <= 20 + 4 + 2, f"{worst} messages in one second"
