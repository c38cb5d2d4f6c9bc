"""The only module that speaks SMTP.

Transactional mail (confirmations, test sends) goes through `send()`: one message,
one connection. Bulk delivery reuses one connection for a batch through `connect()`.
"""
from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from .config import Settings


class MailError(Exception):
    """Mail could not be handed to the relay; the message says why."""


@contextmanager
def connect(settings: Settings) -> Iterator[smtplib.SMTP]:
    """An authenticated connection to the relay, secured as SMTP_SECURITY says."""
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout
    if settings.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        yield smtp
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


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
