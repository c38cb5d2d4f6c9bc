"""One composer for every mail the service sends: confirmations, test sends, issues.

A weekly send is the same ~60 KB message many thousands of times with only a few
personal parts changed: the To and Message-ID headers, the List-Unsubscribe URL
and, in the body, the unsubscribe and manage-your-subscription links and the
address. So a mail is composed once
(headers encoded by `headers`, both parts quoted-printable, CRLF) as a bytes
template with holes where the personal parts go, and each recipient's copy is one
`bytes.join`: no MJML, no `EmailMessage`, no regex over the body per recipient.
A confirmation is composed the same way and filled once, so every mail gets its
From, List-Id, both List-Unsubscribe headers and DKIM signature from one place.

The holes sit between QP soft line breaks (`=CRLF`) or at the start of a header
line, so whatever is spliced in starts a line of its own and never with a dot:
a transport may transform the segments once per mail (SMTP dot-stuffs them) and
the result is the same as transforming every copy.
"""
from __future__ import annotations

import binascii
import html
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parseaddr

import dkim

from ..config import Settings
from . import headers as h
from .rendering import EMAIL_PLACEHOLDER, MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, RenderedMail
from .verp import Verp

# Hole names. Header holes take whole header lines or raw values; body holes take
# quoted-printable values.
TO, MESSAGE_ID, LIST_UNSUBSCRIBE, DATE = "to", "message-id", "list-unsubscribe", "date"
TEXT_URL, TEXT_EMAIL, HTML_URL, HTML_EMAIL = "text-url", "text-email", "html-url", "html-email"
TEXT_MANAGE, HTML_MANAGE = "text-manage", "html-manage"

_HOLE = re.compile(rb"\x00([a-z-]+)\x00")
_PLACEHOLDERS = re.compile(
    f"({re.escape(UNSUBSCRIBE_PLACEHOLDER)}|{re.escape(MANAGE_PLACEHOLDER)}|{re.escape(EMAIL_PLACEHOLDER)})")
DKIM_HEADERS = [
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
]


@dataclass(frozen=True)
class Recipient:
    """The personal parts of one copy."""

    email: str
    message_id: str  # the part left of the @, unique per copy: `issue-7.sub-345`
    unsubscribe_url: str
    name: str = ""
    manage_url: str = ""  # needed when the mail links "manage your subscription"


def _hole(name: str) -> bytes:
    return b"\x00" + name.encode() + b"\x00"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def qp_value(value: str) -> bytes:
    """A spliced body value: quoted-printable, CRLF, and never starting a line with '.'."""
    encoded = _crlf(binascii.b2a_qp(value.encode("utf-8"), quotetabs=True, istext=False))
    encoded = encoded.replace(b"\r\n.", b"\r\n=2E")
    if encoded.startswith(b"."):
        encoded = b"=2E" + encoded[1:]
    return encoded


def _qp_part(content: str, url_hole: str, email_hole: str, manage_hole: str) -> bytes:
    """Encode a body part once, leaving holes for the placeholders."""
    content = content.replace("\r\n", "\n")
    if not content.endswith("\n"):
        content += "\n"
    out = []
    for piece in _PLACEHOLDERS.split(content):
        if piece == UNSUBSCRIBE_PLACEHOLDER:
            out.append(b"=\r\n" + _hole(url_hole) + b"=\r\n")
        elif piece == EMAIL_PLACEHOLDER:
            out.append(b"=\r\n" + _hole(email_hole) + b"=\r\n")
        elif piece == MANAGE_PLACEHOLDER:
            out.append(b"=\r\n" + _hole(manage_hole) + b"=\r\n")
        elif piece:
            out.append(_crlf(binascii.b2a_qp(piece.encode("utf-8"), istext=True)))
    return b"".join(out)


class MessageTemplate:
    """A composed mail: `fill()` per recipient gives that copy's bytes (CRLF)."""

    def __init__(self, segments: list[bytes], holes: list[str], domain: str, signer: Callable | None):
        self._segments = segments  # what the recipient reads, and what DKIM signs
        self._wire = segments  # what the transport sends (see `for_wire`)
        self._holes = holes
        self._domain = domain
        self._signer = signer
        self.set_date()

    def for_wire(self, transform: Callable[[bytes], bytes]) -> MessageTemplate:
        """The same mail with each segment transformed once, for a transport."""
        copy = MessageTemplate(self._segments, self._holes, self._domain, self._signer)
        copy._wire = [transform(segment) for segment in self._segments]
        return copy

    def set_date(self, date: str | None = None) -> None:
        """The Date header for the next copies (set per batch, not per recipient)."""
        self._date = (date or formatdate(usegmt=True)).encode()

    def fill(self, recipient: Recipient) -> bytes:
        """This recipient's copy, ending in CRLF; `HeaderError` for an unusable address."""
        url, manage = recipient.unsubscribe_url, recipient.manage_url
        email = h.check_address(recipient.email)
        values = {
            TO: h.address_header("To", email, recipient.name),
            DATE: self._date,
            MESSAGE_ID: f"<{recipient.message_id}@{self._domain}>".encode(),
            LIST_UNSUBSCRIBE: url.encode("ascii"),
            TEXT_URL: qp_value(url),
            TEXT_EMAIL: qp_value(email),
            HTML_URL: qp_value(html.escape(url)),
            HTML_EMAIL: qp_value(html.escape(email)),
            TEXT_MANAGE: qp_value(manage),
            HTML_MANAGE: qp_value(html.escape(manage)),
        }
        wire = self._join(self._wire, values)
        if self._signer is None:
            return wire
        plain = wire if self._wire is self._segments else self._join(self._segments, values)
        return self._signer(plain) + wire

    def _join(self, segments: list[bytes], values: dict[str, bytes]) -> bytes:
        parts = [segments[0]]
        for index, name in enumerate(self._holes, 1):
            parts.append(values[name])
            parts.append(segments[index])
        return b"".join(parts)


class Composer:
    """Composes mail as this deployment sends it: its From, List-Id and DKIM key."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.from_name, self.from_address = parseaddr(settings.mail_from)
        self.domain = self.from_address.rpartition("@")[2] or "localhost"
        self.list_id = f"newsletter.{self.domain}"
        self.signer = _dkim_signer(settings)
        self.verp = Verp(settings.secret_key, settings.bounce_domain) if settings.bounce_domain else None

    def envelope_from(self, kind: str, ident: int | str) -> str:
        """MAIL FROM for one copy: with BOUNCE_DOMAIN, an address naming the copy
        (`verp`), so whatever bounces is tied to it; else MAIL_FROM's address. Per
        recipient, outside the message bytes: the render-once template is untouched."""
        if self.verp is None:
            return self.from_address
        return self.verp.address(kind, ident)

    def compose(self, mail: RenderedMail, *, list_unsubscribe: bool = True,
                extra_headers: Mapping[str, str] | None = None) -> MessageTemplate:
        """Compose `mail`; `list_unsubscribe=False` leaves out both unsubscribe headers
        (a test send goes to someone who is not subscribed)."""
        boundary = f"=_nl{secrets.token_hex(8)}"  # "=_" cannot occur in quoted-printable
        lines = [
            h.address_header("From", self.from_address, self.from_name),
            _hole(TO),
            h.unstructured("Subject", mail.subject),
            b"Date: " + _hole(DATE) + b"\r\n",
            b"Message-ID: " + _hole(MESSAGE_ID) + b"\r\n",
            f"List-Id: {h.phrase(self.settings.newsletter_name)} <{self.list_id}>\r\n".encode("ascii"),
        ]
        if list_unsubscribe:
            lines += [b"List-Unsubscribe: <" + _hole(LIST_UNSUBSCRIBE) + b">\r\n",
                      b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"]
        lines += [h.unstructured(name, value) for name, value in (extra_headers or {}).items()]
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        lines += [
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
            f"--{boundary}\r\n".encode(), part.format("plain").encode(),
            _qp_part(mail.text, TEXT_URL, TEXT_EMAIL, TEXT_MANAGE),
            f"--{boundary}\r\n".encode(), part.format("html").encode(),
            _qp_part(mail.html, HTML_URL, HTML_EMAIL, HTML_MANAGE),
            f"--{boundary}--\r\n".encode(),
        ]
        pieces = _HOLE.split(b"".join(lines))
        return MessageTemplate(pieces[0::2], [p.decode() for p in pieces[1::2]], self.domain, self.signer)


def new_message_id(kind: str) -> str:
    """A Message-ID left part for a one-off mail (a confirmation, a test send)."""
    return f"{kind}.{secrets.token_hex(12)}"


def _dkim_signer(settings: Settings):
    """A DKIM signer when DKIM_SELECTOR, DKIM_DOMAIN and the key are all set, else None."""
    if not (settings.dkim_selector and settings.dkim_domain and settings.dkim_private_key_path):
        return None
    with open(settings.dkim_private_key_path, "rb") as handle:
        key = handle.read()
    selector, domain = settings.dkim_selector.encode(), settings.dkim_domain.encode()

    def sign(message: bytes) -> bytes:
        return _crlf(dkim.sign(message, selector, domain, key, include_headers=DKIM_HEADERS))

    return sign
