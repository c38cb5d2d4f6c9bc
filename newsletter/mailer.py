"""The only module that speaks SMTP.

Transactional mail (confirmations, test sends) goes through `send()`: one message,
one connection. Bulk delivery reuses one connection for many messages through
`open_bulk()`: raw, pre-dot-stuffed bytes, pipelined commands when the relay allows,
and a reply classified per recipient.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from .config import Settings


class MailError(Exception):
    """Mail could not be handed to the relay; the message says why."""


def _open(settings: Settings) -> smtplib.SMTP:
    """Connect, secure and authenticate; raise smtplib's errors as they come."""
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        smtp.ehlo()
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


@contextmanager
def connect(settings: Settings) -> Iterator[smtplib.SMTP]:
    """An authenticated connection to the relay, secured as SMTP_SECURITY says."""
    smtp = _open(settings)
    try:
        yield smtp
    finally:
        _quit(smtp)


def sender_domain(settings: Settings) -> str:
    return parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"


def build_message(
    settings: Settings,
    *,
    to_email: str,
    to_name: str = "",
    subject: str,
    html: str,
    text: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    local, _, domain = to_email.rpartition("@")
    message["To"] = Address(display_name=to_name, username=local, domain=domain)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender_domain(settings))
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send(settings: Settings, message: EmailMessage) -> None:
    try:
        with connect(settings) as smtp:
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{settings.smtp_host}:{settings.smtp_port}: {exc}") from exc


# --- Bulk delivery -------------------------------------------------------------------


class RelayUnavailable(MailError):
    """The relay cannot take mail right now (connection error, 4xx, 421): retry later."""


class RelayRefused(MailError):
    """The relay refused us, not a recipient (5xx at connect, AUTH or MAIL FROM).

    Retrying each recipient would only repeat the refusal, so the send pauses and
    an editor sees `reply`.
    """

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class SendOutcome:
    """What the relay said about one recipient: the stage and the reply."""

    stage: str  # "mail", "rcpt" or "data"
    code: int
    reply: str

    @property
    def accepted(self) -> bool:
        return self.stage == "data" and 200 <= self.code < 300


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def _classify_open_error(settings: Settings, exc: BaseException) -> MailError:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        if 500 <= exc.smtp_code < 600:
            return RelayRefused(f"{where}: {reply}")
        return RelayUnavailable(f"{where}: {reply}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return RelayRefused(f"{where}: {exc}")
    return RelayUnavailable(f"{where}: {exc.__class__.__name__}: {exc}")


class BulkSender:
    """One open connection, many messages, each handed over as ready bytes.

    `payload` must already be CRLF-terminated and dot-stuffed (the issue's message
    template is stuffed once), so nothing here touches the 60 KB body per message
    except the socket write. smtplib's `sendmail` would run its regexes over every
    message. With PIPELINING, MAIL, RCPT and DATA go in one write.
    """

    def __init__(self, smtp: smtplib.SMTP, mail_from: str):
        self.smtp = smtp
        self.envelope_from = parseaddr(mail_from)[1]
        self.pipelining = smtp.has_extn("pipelining")
        self.smtputf8 = smtp.has_extn("smtputf8")

    def send(self, recipient: str, payload: bytes) -> SendOutcome:
        """Send one message; raise RelayUnavailable if the connection is lost."""
        try:
            return self._send(recipient, payload)
        except smtplib.SMTPServerDisconnected as exc:
            raise RelayUnavailable(f"connection lost: {exc}") from exc
        except OSError as exc:
            raise RelayUnavailable(f"connection error: {exc.__class__.__name__}: {exc}") from exc

    def _send(self, recipient: str, payload: bytes) -> SendOutcome:
        smtp = self.smtp
        utf8 = not recipient.isascii()
        if utf8 and not self.smtputf8:
            return SendOutcome("rcpt", 553, "553 relay does not support SMTPUTF8 for this address")
        options = " SMTPUTF8" if utf8 else ""
        mail_cmd = f"MAIL FROM:<{self.envelope_from}>{options}\r\n".encode()
        rcpt_cmd = f"RCPT TO:<{recipient}>\r\n".encode()
        if self.pipelining:
            smtp.send(mail_cmd + rcpt_cmd + b"DATA\r\n")
            mail, rcpt, data = smtp.getreply(), smtp.getreply(), smtp.getreply()
        else:
            smtp.send(mail_cmd)
            mail = smtp.getreply()
            rcpt = data = (0, b"")
            if mail[0] == 250:
                smtp.send(rcpt_cmd)
                rcpt = smtp.getreply()
                if rcpt[0] in (250, 251):
                    smtp.send(b"DATA\r\n")
                    data = smtp.getreply()
        if data[0] == 354 and rcpt[0] in (250, 251):
            smtp.send(payload + b".\r\n")
            final = smtp.getreply()
            return SendOutcome("data", final[0], _reply(*final))
        if data[0] == 354:  # the relay wants a body for a refused recipient: end it empty
            smtp.send(b".\r\n")
            smtp.getreply()
        for code in (mail[0], rcpt[0], data[0]):
            if code == 421:  # the relay is closing the connection
                raise RelayUnavailable(_reply(*mail if mail[0] == 421 else rcpt if rcpt[0] == 421 else data))
        smtp.rset()
        if mail[0] != 250:
            return SendOutcome("mail", mail[0], _reply(*mail))
        if rcpt[0] not in (250, 251):
            return SendOutcome("rcpt", rcpt[0], _reply(*rcpt))
        return SendOutcome("data", data[0], _reply(*data))

    def alive(self) -> bool:
        """Whether the connection still works (a relay may drop an idle one)."""
        try:
            return self.smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def close(self) -> None:
        _quit(self.smtp)


def open_bulk(settings: Settings) -> BulkSender:
    """Open a bulk connection; RelayRefused (pause) or RelayUnavailable (retry) if not."""
    try:
        smtp = _open(settings)
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify_open_error(settings, exc) from exc
    return BulkSender(smtp, settings.mail_from)
