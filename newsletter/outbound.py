"""One issue's message as a bytes template, filled in per recipient by splicing.

A weekly send is the same ~60 KB message many thousands of times with only a few
personal parts changed: the To and Message-ID headers, the List-Unsubscribe URL
and, in the body, the unsubscribe link and the address. So the message is built
once per issue (headers encoded, both parts quoted-printable encoded, the whole
thing CRLF and dot-stuffed for SMTP DATA) with holes where the personal parts go,
and each recipient's copy is one `bytes.join`. No MJML, no `EmailMessage`, no
regex over the body per recipient.

The holes sit between QP soft line breaks (`=CRLF`), so whatever is spliced in
starts and ends a line of its own: no line can exceed SMTP's limit and a spliced
value can never join a line that starts with a dot.
"""
from __future__ import annotations

import binascii
import html
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.utils import formatdate

import dkim

from .config import Settings
from .mailer import sender_domain
from .rendering import EMAIL_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER
from .tokens import unsubscribe_url

# Hole names. Header holes take raw (already safe) bytes; body holes take
# quoted-printable values.
TO, MESSAGE_ID, LIST_UNSUBSCRIBE, DATE = "to", "message-id", "list-unsubscribe", "date"
TEXT_URL, TEXT_EMAIL, HTML_URL, HTML_EMAIL = "text-url", "text-email", "html-url", "html-email"

_HOLE = re.compile(rb"\x00([a-z-]+)\x00")
_PLACEHOLDERS = re.compile(f"({re.escape(UNSUBSCRIBE_PLACEHOLDER)}|{re.escape(EMAIL_PLACEHOLDER)})")
_POLICY = policy.SMTP.clone(refold_source="all")  # parse, fold and encode every header
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x20\x7f<>]")
DKIM_HEADERS = [
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
]


class InvalidRecipient(ValueError):
    """An address that cannot be put in a header or an SMTP command."""


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


def _qp_part(content: str, url_hole: str, email_hole: str) -> bytes:
    """Encode a body part once, leaving holes for the two placeholders."""
    content = content.replace("\r\n", "\n")
    if not content.endswith("\n"):
        content += "\n"
    out = []
    for piece in _PLACEHOLDERS.split(content):
        if piece == UNSUBSCRIBE_PLACEHOLDER:
            out.append(b"=\r\n" + _hole(url_hole) + b"=\r\n")
        elif piece == EMAIL_PLACEHOLDER:
            out.append(b"=\r\n" + _hole(email_hole) + b"=\r\n")
        elif piece:
            out.append(_crlf(binascii.b2a_qp(piece.encode("utf-8"), istext=True)))
    return b"".join(out)


def _header(name: str, value: str) -> bytes:
    """A header folded and RFC 2047-encoded as the stdlib does it; no CR/LF injection."""
    value = " ".join(value.split())
    return _POLICY.fold_binary(name, value)


def check_address(address: str) -> str:
    if not address or "@" not in address or _UNSAFE_ADDRESS.search(address):
        raise InvalidRecipient(f"unusable address {address!r}")
    return address


@dataclass(frozen=True)
class IssueContent:
    issue_id: int
    subject: str
    html: str
    text: str


class IssueMessage:
    """The issue's message template: build once, `render()` per recipient."""

    def __init__(self, settings: Settings, content: IssueContent):
        self.issue_id = content.issue_id
        self.base_url = settings.base_url
        self.domain = sender_domain(settings)
        self.dkim = _dkim_signer(settings)
        boundary = f"=_nl{content.issue_id}_{secrets.token_hex(8)}"  # "=_" cannot occur in QP
        list_label = f"newsletter.{self.domain}"
        head = b"".join(
            [
                _header("From", settings.mail_from),
                b"To: " + _hole(TO) + b"\r\n",
                _header("Subject", content.subject),
                b"Date: " + _hole(DATE) + b"\r\n",
                b"Message-ID: " + _hole(MESSAGE_ID) + b"\r\n",
                _header("List-Id", f"{settings.newsletter_name} <{list_label}>"),
                b"List-Unsubscribe: <" + _hole(LIST_UNSUBSCRIBE) + b">\r\n",
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                b"MIME-Version: 1.0\r\n",
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'.encode(),
                b"\r\n",
            ]
        )
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        body = b"".join(
            [
                f"--{boundary}\r\n".encode(), part.format("plain").encode(),
                _qp_part(content.text, TEXT_URL, TEXT_EMAIL),
                f"--{boundary}\r\n".encode(), part.format("html").encode(),
                _qp_part(content.html, HTML_URL, HTML_EMAIL),
                f"--{boundary}--\r\n".encode(),
            ]
        )
        # Dot-stuff once for SMTP DATA; spliced values never start a line with '.'.
        template = (head + body).replace(b"\r\n.", b"\r\n..")
        pieces = _HOLE.split(template)
        self._segments: list[bytes] = pieces[0::2]
        self._holes: list[str] = [p.decode() for p in pieces[1::2]]
        self.set_date()

    def set_date(self, date: str | None = None) -> None:
        """The Date header for the next messages (set per batch, not per recipient)."""
        self._date = (date or formatdate(usegmt=True)).encode()

    def render(self, subscriber_id: int, email: str, unsubscribe_token: str) -> bytes:
        """This recipient's copy: CRLF, dot-stuffed, ending in CRLF, ready for DATA."""
        address = check_address(email)
        url = unsubscribe_url(self.base_url, subscriber_id, unsubscribe_token)
        values = {
            TO: address.encode("utf-8"),
            DATE: self._date,
            MESSAGE_ID: f"<issue-{self.issue_id}.sub-{subscriber_id}@{self.domain}>".encode(),
            LIST_UNSUBSCRIBE: url.encode("ascii"),
            TEXT_URL: qp_value(url),
            TEXT_EMAIL: qp_value(address),
            HTML_URL: qp_value(html.escape(url)),
            HTML_EMAIL: qp_value(html.escape(address)),
        }
        segments, holes = self._segments, self._holes
        parts = [segments[0]]
        for index, name in enumerate(holes, 1):
            parts.append(values[name])
            parts.append(segments[index])
        message = b"".join(parts)
        if self.dkim is not None:
            message = self.dkim(message)
        return message


def unstuff(payload: bytes) -> bytes:
    """The message as the recipient sees it (undo SMTP dot-stuffing)."""
    if payload.startswith(b".."):
        payload = payload[1:]
    return payload.replace(b"\r\n..", b"\r\n.")


def _dkim_signer(settings: Settings):
    """A DKIM signer when DKIM_SELECTOR, DKIM_DOMAIN and the key are all set, else None."""
    if not (settings.dkim_selector and settings.dkim_domain and settings.dkim_private_key_path):
        return None
    with open(settings.dkim_private_key_path, "rb") as handle:
        key = handle.read()
    selector, domain = settings.dkim_selector.encode(), settings.dkim_domain.encode()

    def sign(stuffed: bytes) -> bytes:
        # DKIM signs what the recipient sees, so sign the unstuffed message.
        signature = dkim.sign(unstuff(stuffed), selector, domain, key, include_headers=DKIM_HEADERS)
        return _crlf(signature) + stuffed

    return sign
