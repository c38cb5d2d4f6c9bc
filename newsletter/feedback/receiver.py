"""`newsletter bounces`: the SMTP server that bounces, complaints and auto-replies reach.

Point BOUNCE_DOMAIN's MX at it. It answers RCPT only for our own VERP addresses
whose MAC verifies (550 for everything else: it never relays and leaks nothing
about which copies exist), takes at most MAX_MESSAGE_BYTES, and answers 250 only
after the events are committed, so a database outage is a 451 and the sender's
server tries again later: nothing is lost, and nothing is recorded twice (the
same mail makes the same event key).

aiosmtpd runs the protocol on an event loop; the parsing and the database work
run in a small thread pool beside it, so one slow transaction does not stall
every other connection.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller

from ..config import Settings
from ..db import Database
from ..mail.verp import Verp
from . import inbound, parsers
from .models import FeedbackSource

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a bounce quoting a whole issue is well under 1 MB
MAX_RECIPIENTS = 20


class BounceHandler:
    def __init__(self, db: Database, settings: Settings, threads: int = 4):
        self.db, self.settings = db, settings
        self.verp = Verp(settings.secret_key, settings.bounce_domain)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bounces")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.verp.parse(address) is None:
            log.info("refused RCPT %s", parsers.clean(address, 100))
            return "550 5.1.1 No such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        addresses = [(a, self.verp.parse(a)) for a in envelope.rcpt_tos]
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self.pool, self._store, raw, addresses)
        except Exception:  # noqa: BLE001 - the database is down or refused: the sender retries
            log.exception("could not store a bounce mail for %s", [a for a, _ in addresses])
            return "451 4.3.0 Could not store the message; try again later"
        for (address, _), outcome in zip(addresses, outcomes):
            log.info("%s: %s (%s)", address, outcome.result, parsers.clean(outcome.detail, 200))
        return "250 OK"

    def _store(self, raw: bytes, addresses) -> list[inbound.Outcome]:
        with self.db.session() as session:
            outcomes = inbound.ingest(session, self.settings, FeedbackSource.SMTP, raw, addresses)
            session.commit()
        return outcomes

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def controller(db: Database, settings: Settings, listen: str | None = None) -> tuple[Controller, BounceHandler]:
    host, _, port = (listen or settings.bounce_listen).rpartition(":")
    handler = BounceHandler(db, settings)
    made = Controller(handler, hostname=host.strip("[]"), port=int(port), data_size_limit=MAX_MESSAGE_BYTES,
                      enable_SMTPUTF8=True, ident="newsletter bounces", timeout=60)
    return made, handler


def serve(db: Database, settings: Settings, listen: str | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    server, handler = controller(db, settings, listen)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    log.info("receiving bounces for @%s on %s:%s", settings.bounce_domain, server.hostname, server.port)
    try:
        stop.wait()
    finally:
        server.stop()
        handler.close()
