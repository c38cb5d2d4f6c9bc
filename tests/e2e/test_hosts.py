"""Two sending hosts, one of them cut off from the network mid-send.

Each worker runs in a network namespace of its own and reaches PostgreSQL, Redis and
the relay only through its veth link (see `support.netns`). Taking one link down is
a machine that drops off the network with its rows leased and some of its messages
accepted by the relay but not yet recorded: its lease runs out, the other host sends
those rows, and when the link comes back the lost host's late writes are fenced off
by the lease. Every subscriber has the issue; the doubles are at most what the cut
host had sent and not yet flushed.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from conftest import RUN_ID, free_port
from sqlalchemy.engine import make_url
from support.delivery import (
    FAST_RETRIES,
    address,
    drive,
    make_sending_issue,
    make_subscribers,
    recipients,
    status_counts,
)
from support.netns import Forwarder, NoNamespaces, make_hosts, remove_hosts

from newsletter.config import PROJECT_ROOT
from newsletter.delivery import engine
from newsletter.dev.catcher import MailCatcher, _MaildirHandler
from workers.delivery import dispatch_issue, sweep_deliveries

pytestmark = [pytest.mark.worker, pytest.mark.postgresql_only, pytest.mark.redis_only]

SUBSCRIBERS = 600


class _PacedHandler(_MaildirHandler):
    """A few milliseconds a message, like a real relay, so the cut lands mid-send."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def hosts():
    try:
        made = make_hosts(RUN_ID, 2, subnet=200 + int(RUN_ID[:2], 16) % 50)
    except NoNamespaces as exc:
        pytest.skip(f"network namespaces cannot be made on this machine, so the two-host test cannot run: {exc}")
    yield made
    remove_hosts(made)


def _through(url: str, host: str, port: int) -> str:
    return make_url(url).set(host=host, port=port).render_as_string(hide_password=False)


def test_a_host_cut_off_mid_send_costs_at_most_its_unflushed_window(app, db, session, hosts, env, tmp_path,
                                                                     celery_app):
    relay = MailCatcher(tmp_path / "relay", port=free_port())
    relay.handler = _PacedHandler(relay.maildir, relay.refuse)
    relay.controller.handler = relay.handler
    relay.start()
    database, broker = make_url(env["DATABASE_URL"]), make_url(env["CELERY_BROKER_URL"])
    links = [host.here for host in hosts]
    pg, redis = Forwarder(database.port or 5432, links, free_port()), Forwarder(broker.port or 6379, links, free_port())
    smtp = [Forwarder(relay.port, [host.here], free_port()) for host in hosts]  # one each: who was sending
    forwarders = [pg.start(), redis.start(), *(f.start() for f in smtp)]
    make_subscribers(session, SUBSCRIBERS)
    issue_id = make_sending_issue(session, html_size=8000)
    session.commit()

    workers = []
    try:
        for i, host in enumerate(hosts):
            here = {
                **env, **FAST_RETRIES,
                "DATABASE_URL": _through(env["DATABASE_URL"], host.here, pg.listen_port),
                "CELERY_BROKER_URL": _through(env["CELERY_BROKER_URL"], host.here, redis.listen_port),
                "RATELIMIT_STORAGE_URI": _through(env["CELERY_BROKER_URL"], host.here, redis.listen_port),
                "SMTP_HOST": host.here, "SMTP_PORT": str(smtp[i].listen_port), "SMTP_TIMEOUT": "3",
                "SEND_BATCH_SIZE": "200", "SEND_LEASE_SECONDS": "4",
            }
            log = open(tmp_path / f"host{i}.log", "w")
            workers.append(subprocess.Popen(
                host.command([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
                              "-Q", "mail,bulk,default", "--concurrency", "1", "--loglevel", "INFO",
                              "-n", f"host{i}-{RUN_ID}@%h"]),
                env={**os.environ, **here}, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT))
        dispatch_issue.delay(issue_id)
        deadline = time.monotonic() + 90
        while not (smtp[0].sent and smtp[1].sent and len(relay.messages()) >= SUBSCRIBERS // 4):
            assert time.monotonic() < deadline, f"both hosts never sent: {[f.sent for f in smtp]}"
            time.sleep(0.05)
        hosts[0].cut()
        cut_at = len(relay.messages())
        recorded_at_cut = status_counts(db, issue_id).get("sent", 0)
        assert cut_at < SUBSCRIBERS, "the cut must land mid-send"
        until = time.monotonic() + 12  # past the lease and the SMTP timeout: the host is gone
        while time.monotonic() < until:
            sweep_deliveries.apply()
            time.sleep(0.5)
        hosts[0].mend()
        assert drive(db, issue_id, timeout=180) == "sent"
        # The cut host's late writes land once its link is back; give them a moment.
        time.sleep(3)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for forwarder in forwarders:
            forwarder.stop()
        relay.stop()

    got = recipients(relay)
    assert set(got) == {address(i) for i in range(SUBSCRIBERS)}
    duplicates = sum(n - 1 for n in got.values())
    print(f"cut at {cut_at} received ({recorded_at_cut} recorded); {duplicates} sent twice")
    assert duplicates <= engine.FLUSH_EVERY + 1
    assert status_counts(db, issue_id) == {"sent": SUBSCRIBERS}
