"""Per-domain pacing with a real worker: a relay that answers 421 for one domain
above a few messages a second. The other domains go through at once, the throttled
one slows down and is delivered in the end, nothing fails, nobody gets two copies,
and the throttles cost no recipient an attempt."""
from __future__ import annotations

import time
from collections import Counter, deque

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port
from sqlalchemy import func, insert, select
from support.delivery import FAST_RETRIES, drive, make_sending_issue, recipients, status_counts

from newsletter.db import utcnow
from newsletter.dev.catcher import MailCatcher, _MaildirHandler
from newsletter.models import Delivery, Subscriber, SubscriberStatus
from workers.delivery import dispatch_issue

pytestmark = pytest.mark.worker

DOMAINS = ("fast-a.test", "fast-b.test", "slow.test", "elsewhere.test")
PER_SECOND = 8


class ThrottlingHandler(_MaildirHandler):
    """421 for slow.test once PER_SECOND of its messages went through in the last second."""

    def __init__(self, maildir):
        super().__init__(maildir)
        self.recent: deque = deque()
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@slow.test"):
            now = time.monotonic()
            while self.recent and self.recent[0] < now - 1.0:
                self.recent.popleft()
            if len(self.recent) >= PER_SECOND:
                self.refused += 1
                return "421 4.7.0 too many messages from you, slow down"
            self.recent.append(now)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def relay(tmp_path):
    server = MailCatcher(tmp_path / "relay", port=free_port())
    server.handler = ThrottlingHandler(server.maildir)
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(env, relay):
    return {**env, **FAST_RETRIES, "SMTP_PORT": str(relay.port), "SEND_BATCH_SIZE": "20",
            "SEND_PARALLEL_BATCHES": "3", "PACING_GROUPS": "fast-a=fast-a.test; fast-b=fast-b.test; slow=slow.test"}


def _audience(session, per_domain: int) -> list[str]:
    now = utcnow()
    addresses = [f"reader{i:03d}@{domain}" for i in range(per_domain) for domain in DOMAINS]
    session.execute(insert(Subscriber), [
        {"email": a, "email_key": a, "name": "", "status": SubscriberStatus.CONFIRMED, "created_at": now,
         "updated_at": now, "requested_at": now, "confirmed_at": now, "unsubscribe_token": f"u{n}",
         "manage_token": f"m{n}", "request_ip": "", "request_user_agent": "", "confirm_ip": "",
         "confirm_user_agent": "", "bounce_reason": "", "confirm_nonce": ""}
        for n, a in enumerate(addresses)])
    return addresses


def test_a_throttling_domain_waits_in_its_lane_while_the_others_go(app, db, session, relay, worker_process):
    addresses = _audience(session, 40)
    issue_id = make_sending_issue(session)
    session.commit()
    worker_process("--pool", "threads", "--concurrency", "2")
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=120, every=1.0) == "sent"

    got = recipients(relay)
    assert set(got) == set(addresses), "every domain delivered, the throttled one in the end"
    assert max(got.values()) == 1, f"sent twice: {[a for a, n in got.items() if n > 1]}"
    assert status_counts(db, issue_id) == {"sent": len(addresses)}, "nothing failed"
    assert relay.handler.refused > 0, "the relay must have throttled slow.test"
    with db.session() as s:
        attempts = Counter(s.scalars(select(Delivery.attempts).where(Delivery.issue_id == issue_id)))
        groups = dict(s.execute(select(Delivery.pacing_group, func.count()).group_by(Delivery.pacing_group)).all())
    assert attempts == {1: len(addresses)}, "a throttle costs no attempt"
    assert groups == {"fast-a": 40, "fast-b": 40, "slow": 40, "other": 40}
    arrived = {}
    for message in relay.messages():
        domain = message.envelope_to[0].rpartition("@")[2]
        arrived[domain] = max(arrived.get(domain, 0), message.received_at)
    assert max(arrived[d] for d in DOMAINS if d != "slow.test") <= arrived["slow.test"], \
        "the other domains are not held back behind the throttled one"
