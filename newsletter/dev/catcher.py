"""A real SMTP server that keeps what it receives, for `newsletter dev` and the tests.

aiosmtpd runs in a thread and writes each message into a Maildir, so the inbox
page of the app (another process) and the tests read the same mail. It is far too
slow to be a benchmark sink; `bench/` uses Postfix's smtp-sink for that.
"""
from __future__ import annotations

import email
import email.policy
import mailbox
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class CaughtMessage:
    key: str
    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    received_at: float
    raw: bytes = b""  # as it arrived, for checks the parser would smooth over

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")


def offer_pipelining(session, hostname: str, responses: list[str]) -> list[str]:
    """EHLO's answer with PIPELINING, which aiosmtpd supports (it reads one command at a
    time from a buffered stream) but does not advertise: so the delivery engine talks
    to the catcher as it does to a real relay, envelopes announced behind bodies."""
    session.host_name = hostname  # aiosmtpd leaves this to a handler's EHLO hook
    return [*responses[:-1], "250-PIPELINING", responses[-1]]


class _MaildirHandler:
    def __init__(self, maildir: mailbox.Maildir, refuse: dict[str, str] | None = None):
        self.maildir = maildir
        self.refuse = refuse if refuse is not None else {}

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        return offer_pipelining(session, hostname, responses)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = mailbox.MaildirMessage(envelope.original_content or envelope.content)
        # The envelope is what was really delivered; keep it beside the headers.
        message["X-Envelope-From"] = envelope.mail_from or ""
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.maildir.add(message)
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, directory: str | Path, host: str = "127.0.0.1", port: int = 0):
        self.directory = Path(directory)
        self.maildir = open_maildir(self.directory)
        # Addresses (lower-case) answered with an SMTP error at RCPT, for tests.
        self.refuse: dict[str, str] = {}
        self.handler = _MaildirHandler(self.maildir, self.refuse)
        # aiosmtpd connects to its own port to check it is up, so port 0 won't do.
        port = port or _free_port(host)
        self.controller = Controller(self.handler, hostname=host, port=port, data_size_limit=20 * 1024 * 1024)

    @property
    def host(self) -> str:
        return self.controller.hostname

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> MailCatcher:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def clear(self) -> None:
        self.maildir.clear()
        self.refuse.clear()

    def messages(self) -> list[CaughtMessage]:
        return read_maildir(self.directory)

    def wait_for(self, count: int = 1, timeout: float = 20.0, to: str | None = None) -> list[CaughtMessage]:
        """Wait until at least `count` messages (to `to`, if given) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if to is None or to.lower() in [a.lower() for a in m.envelope_to]]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def open_maildir(directory: str | Path) -> mailbox.Maildir:
    path = Path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    for sub in ("", "cur", "new", "tmp"):  # Maildir(create=True) skips these if the folder exists
        (path / sub).mkdir(exist_ok=True)
    return mailbox.Maildir(str(path), create=False)


def read_maildir(directory: str | Path) -> list[CaughtMessage]:
    """Every message in the Maildir, oldest first."""
    box = open_maildir(directory)
    caught = []
    for key in box.keys():
        try:
            raw = box.get_bytes(key)
            info = box.get_message(key)
        except (KeyError, FileNotFoundError):
            continue  # removed while we were reading
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        caught.append(
            CaughtMessage(
                key=key,
                envelope_from=str(parsed.get("X-Envelope-From", "")),
                envelope_to=[a.strip() for a in str(parsed.get("X-Envelope-To", "")).split(",") if a.strip()],
                message=parsed,
                received_at=info.get_date(),
                raw=raw,
            )
        )
    caught.sort(key=lambda m: (m.received_at, m.key))
    return caught


def find_message(directory: str | Path, key: str) -> CaughtMessage | None:
    for message in read_maildir(directory):
        if message.key == key:
            return message
    return None
