"""The SMTP transport: the only code that speaks SMTP, and the only reader of its replies.

One connection carries many messages, each handed over as ready bytes: the mail's
template is dot-stuffed once (`prepare`), so nothing here touches the 60 KB body of
each copy except the socket write; smtplib's `sendmail` would run its regexes over
every message. With PIPELINING, MAIL, RCPT and DATA go in one write, and a copy
whose envelope the caller announces goes out with the previous body (RFC 2920
allows message content first in a group, DATA last): a message then waits for one
round trip, not two. Each reply becomes a verdict here, so callers never see a
reply code.
"""
from __future__ import annotations

import smtplib
import ssl

from ...config import Settings
from ..compose import MessageTemplate
from . import Envelope, Outcome, TransportError, Verdict


def dot_stuff(segment: bytes) -> bytes:
    """SMTP DATA transparency (RFC 5321 4.5.2) for one template segment."""
    return segment.replace(b"\r\n.", b"\r\n..")


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def verdict_for(stage: str, code: int, text: str = "") -> Verdict:
    """What a reply at a stage ("mail", "rcpt", "data") means for the sender."""
    if stage == "data" and 200 <= code < 300:
        return Verdict.ACCEPTED
    if 400 <= code < 500:
        return Verdict.THROTTLED if code == 421 or _is_47x(text) else Verdict.RETRY
    if stage == "mail":
        # The relay refuses our envelope sender: every recipient would get the same.
        return Verdict.STOP if code >= 500 else Verdict.RETRY
    if stage == "rcpt":
        return Verdict.BOUNCE
    return Verdict.REJECT  # the message itself was refused, not the address


def _is_47x(text: str) -> bool:
    """An enhanced status 4.7.x (policy: rate, reputation) after the reply code."""
    words = text.split(" ", 2)
    return len(words) > 1 and words[1].startswith("4.7.")


class SmtpConnection:
    def __init__(self, smtp: smtplib.SMTP):
        self.smtp = smtp
        self.pipelining = smtp.has_extn("pipelining")
        self.smtputf8 = smtp.has_extn("smtputf8")
        # The next copy's envelope, written behind the last body; its replies are not read yet.
        self.announced: Envelope | None = None

    def send(self, envelope_from: str, recipient: str, message: bytes, announce: Envelope | None = None) -> Outcome:
        """Send one dot-stuffed copy; `TransportError` if the connection is lost."""
        try:
            return self._send(Envelope(envelope_from, recipient), message, announce)
        except smtplib.SMTPServerDisconnected as exc:
            raise TransportError(Outcome(Verdict.RETRY, f"connection lost: {exc}"), lost=True) from exc
        except OSError as exc:
            raise TransportError(Outcome(Verdict.RETRY, f"connection error: {exc.__class__.__name__}: {exc}"),
                                 lost=True) from exc

    def _send(self, envelope: Envelope, message: bytes, announce: Envelope | None) -> Outcome:
        smtp = self.smtp
        if self.announced is not None and self.announced != envelope:
            # The relay may be waiting for the announced copy's body: nothing else can follow.
            raise RuntimeError("a copy other than the announced one was sent on this connection")
        if not self._speakable(envelope):
            return Outcome(Verdict.BOUNCE, "553 relay does not support SMTPUTF8 for this address")
        if self.pipelining:
            if self.announced is None:
                smtp.send(self._commands(envelope))
            self.announced = None
            # One at a time: a relay that answers 421 closes before the next reply.
            mail = self._closing(smtp.getreply())
            rcpt = self._closing(smtp.getreply())
            data = self._closing(smtp.getreply())
        else:
            mail_cmd, rcpt_cmd = self._commands(envelope, split=True)
            smtp.send(mail_cmd)
            mail = self._closing(smtp.getreply())
            rcpt = data = (0, b"")
            if mail[0] == 250:
                smtp.send(rcpt_cmd)
                rcpt = self._closing(smtp.getreply())
                if rcpt[0] in (250, 251):
                    smtp.send(b"DATA\r\n")
                    data = self._closing(smtp.getreply())
        if data[0] == 354 and mail[0] == 250 and rcpt[0] in (250, 251):
            following = announce if announce is not None and self.pipelining and self._speakable(announce) else None
            smtp.send(message + b".\r\n" + (self._commands(following) if following else b""))
            self.announced = following
            final = self._closing(smtp.getreply())
            reply = _reply(*final)
            return Outcome(verdict_for("data", final[0], reply), reply)
        if data[0] == 354:  # the relay wants a body for a refused envelope: end it empty
            smtp.send(b".\r\n")
            smtp.getreply()
        smtp.rset()
        if mail[0] != 250:
            return Outcome(verdict_for("mail", mail[0], _reply(*mail)), _reply(*mail))
        if rcpt[0] not in (250, 251):
            return Outcome(verdict_for("rcpt", rcpt[0], _reply(*rcpt)), _reply(*rcpt))
        return Outcome(verdict_for("data", data[0], _reply(*data)), _reply(*data))

    def _speakable(self, envelope: Envelope) -> bool:
        """Whether this relay can take the envelope at all (SMTPUTF8 for non-ASCII)."""
        return self.smtputf8 or (envelope.sender.isascii() and envelope.recipient.isascii())

    @staticmethod
    def _commands(envelope: Envelope, split: bool = False):
        utf8 = not (envelope.sender.isascii() and envelope.recipient.isascii())
        mail = f"MAIL FROM:<{envelope.sender}>{' SMTPUTF8' if utf8 else ''}\r\n".encode()
        rcpt = f"RCPT TO:<{envelope.recipient}>\r\n".encode()
        return (mail, rcpt) if split else mail + rcpt + b"DATA\r\n"

    @staticmethod
    def _closing(reply: tuple[int, bytes]) -> tuple[int, bytes]:
        """421: the relay is closing the connection; the rest must wait for a new one."""
        if reply[0] == 421:
            raise TransportError(Outcome(Verdict.THROTTLED, _reply(*reply)))
        return reply

    def alive(self) -> bool:
        if self.announced is not None:  # a NOOP now would be read as the announced copy's body
            return False
        try:
            return self.smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def close(self) -> None:
        """QUIT, or with a copy announced and never sent, just close: the relay may be
        waiting for its body, and a connection that ends before the final dot delivers
        nothing (RFC 5321 4.1.1.4)."""
        if self.announced is not None:
            self.announced = None
            self.smtp.close()
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()


class SmtpTransport:
    """A relay reached as SMTP_HOST:SMTP_PORT, secured as SMTP_SECURITY says."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"

    def prepare(self, template: MessageTemplate) -> MessageTemplate:
        return template.for_wire(dot_stuff)

    def connect(self) -> SmtpConnection:
        try:
            return SmtpConnection(self._open())
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(self._open_failure(exc)) from exc

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _open_failure(self, exc: BaseException) -> Outcome:
        """5xx at connect, TLS or AUTH is the relay refusing us (STOP); the rest may pass."""
        if isinstance(exc, smtplib.SMTPResponseException):
            reply = f"{self.where}: {_reply(exc.smtp_code, exc.smtp_error)}"
            return Outcome(Verdict.STOP if 500 <= exc.smtp_code < 600 else Verdict.RETRY, reply)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return Outcome(Verdict.STOP, f"{self.where}: {exc}")
        return Outcome(Verdict.RETRY, f"{self.where}: {exc.__class__.__name__}: {exc}")
