"""`newsletter bounces`: the SMTP server that bounces, complaints and auto-replies reach.

Point BOUNCE_DOMAIN's MX at it. It answers RCPT only for our own VERP addresses
whose MAC verifies (550 for everything else: it never relays and leaks nothing
about which copies exist), takes at most MAX_MESSAGE_BYTES, and answers 250 only
after the mail is committed to the feedback inbox, so a database outage is a 451
and the sender's server tries again later: nothing is lost, and nothing is
recorded twice (the same mail makes the same event key when a worker applies it).

aiosmtpd runs the protocol on an event loop; one writer thread beside it stores
the mails in groups: whatever arrived while the last group was being committed
goes in the next INSERT and commit, so a hundred senders at once cost a few
commits, not a hundred. One process speaks SMTP on one core; `--processes N`
starts N of them on the same port (SO_REUSEPORT: the kernel spreads connections).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import re
import signal
import threading
from concurrent.futures import Future

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from ..config import Settings
from ..db import Database
from ..mail.verp import Verp
from . import inbox, parsers
from .models import FeedbackSource

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a bounce quoting a whole issue is well under 1 MB
MAX_RECIPIENTS = 20
GROUP_MOST = 200  # mails per INSERT and commit


class Writer:
    """One thread that stores mails in groups; `put()` answers once its group committed."""

    def __init__(self, db: Database):
        self.db = db
        self.waiting: queue.SimpleQueue[tuple[inbox.Mail, Future] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="bounces-writer", daemon=True)
        self.thread.start()

    def put(self, mail: inbox.Mail) -> Future:
        done: Future = Future()
        self.waiting.put((mail, done))
        return done

    def _run(self) -> None:
        while True:
            first = self.waiting.get()
            if first is None:
                return
            group = [first]
            while len(group) < GROUP_MOST:
                try:
                    item = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.waiting.put(None)  # stop after this group
                    break
                group.append(item)
            try:
                with self.db.session() as session:
                    inbox.put_mails(session, [mail for mail, _ in group])
                    session.commit()
            except Exception as exc:  # noqa: BLE001 - every sender in the group is told to retry
                for _, done in group:
                    done.set_exception(exc)
            else:
                for _, done in group:
                    done.set_result(None)

    def close(self) -> None:
        self.waiting.put(None)
        self.thread.join(30)


class BounceHandler:
    def __init__(self, db: Database, settings: Settings):
        self.db, self.settings = db, settings
        self.verp = Verp(settings.secret_key, settings.bounce_domain)
        self.writer = Writer(db)

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
        try:
            await asyncio.wrap_future(self.writer.put(inbox.Mail(FeedbackSource.SMTP, raw, list(envelope.rcpt_tos))))
        except Exception:  # noqa: BLE001 - the database is down or refused: the sender retries
            log.exception("could not store a bounce mail for %s", [parsers.clean(a, 100) for a in envelope.rcpt_tos])
            return "451 4.3.0 Could not store the message; try again later"
        log.debug("stored a bounce mail (%d bytes) for %d addresses", len(raw), len(envelope.rcpt_tos))
        return "250 OK"

    def close(self) -> None:
        self.writer.close()


# `<local@domain>` in plain dot-atoms, the form every bounce sender's server writes.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


class _SMTP(SMTP):
    """aiosmtpd's protocol with a quick reading of MAIL FROM and RCPT TO paths: its
    own goes through the email package's full RFC 5322 parser, a quarter of the
    receiver's time per mail. The null sender and a plain `<local@domain>` are read
    here, with the same result (tests.feedback.test_receiver compares the two);
    anything else (quoted parts, comments, routes, literals) still goes to aiosmtpd."""

    def _getaddr(self, arg: str):
        if arg.startswith("<>"):
            return "<>", arg[2:]
        match = _PLAIN_PATH.match(arg)
        if match:
            rest = arg[match.end():]
            if not rest or (rest[0] in " \t" and not rest.lstrip(" \t").startswith("(")):
                address = match.group(1)
                if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
                    return None, None
                return address, rest.lstrip(" \t")
        return super()._getaddr(arg)


class _Controller(Controller):
    """aiosmtpd's controller, listening with SO_REUSEPORT when several processes share
    the port, and speaking through `_SMTP`."""

    def __init__(self, *args, reuse_port: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.reuse_port = reuse_port

    def factory(self):
        return _SMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, host=self.hostname, port=self.port,
                                       ssl=self.ssl_context, reuse_port=self.reuse_port or None)

    def _trigger_server(self):
        # aiosmtpd connects to itself to see its SMTP factory work; on a shared port
        # that connection may reach another process, so build the first one here.
        if self.reuse_port:
            self.loop.call_soon_threadsafe(self._factory_invoker)
        else:
            super()._trigger_server()


def controller(db: Database, settings: Settings, listen: str | None = None,
               reuse_port: bool = False) -> tuple[Controller, BounceHandler]:
    host, _, port = (listen or settings.bounce_listen).rpartition(":")
    handler = BounceHandler(db, settings)
    made = _Controller(handler, hostname=host.strip("[]"), port=int(port), data_size_limit=MAX_MESSAGE_BYTES,
                       enable_SMTPUTF8=True, ident="newsletter bounces", timeout=60, reuse_port=reuse_port)
    return made, handler


def _stopped_by_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _quiet_protocol_log() -> None:
    """aiosmtpd logs every command and reply at INFO: a log as large as the traffic, and a
    third of the receiver's time. What matters (refusals, failures to store) is logged here;
    the protocol log comes back when this module's log is at DEBUG."""
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("mail.log").setLevel(logging.WARNING)


def serve(db: Database, settings: Settings, listen: str | None = None, reuse_port: bool = False) -> None:
    """Run until SIGTERM or SIGINT."""
    _quiet_protocol_log()
    server, handler = controller(db, settings, listen, reuse_port)
    stop = _stopped_by_signals()
    server.start()
    log.info("receiving bounces for @%s on %s:%s", settings.bounce_domain, server.hostname, server.port)
    try:
        stop.wait()
    finally:
        server.stop()
        handler.close()


def _child(settings: Settings, listen: str | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    serve(Database(settings.database_url), settings, listen, reuse_port=True)


def serve_many(settings: Settings, processes: int, listen: str | None = None) -> int:
    """Run `processes` receivers on one port until SIGTERM or SIGINT, or until one of them
    ends (then the others are stopped too, and a supervisor restarts the whole). Each
    process makes its own database connections. Returns an exit status."""
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_child, args=(settings, listen), name=f"bounces-{n}", daemon=True)
                for n in range(processes)]
    stop = _stopped_by_signals()
    for child in children:
        child.start()
    while not stop.is_set() and all(child.is_alive() for child in children):
        stop.wait(0.5)
    status = 0 if stop.is_set() else 1
    for child in children:
        if child.is_alive():
            child.terminate()
    for child in children:
        child.join(30)
    return status
