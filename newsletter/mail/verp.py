"""Envelope senders that say which copy bounced (VERP), and the check that they are ours.

With BOUNCE_DOMAIN set, every copy leaves with its own MAIL FROM,
`<kind>-<id>-<mac>@BOUNCE_DOMAIN`: `b` names a delivery (a copy of an issue), `c` a
subscriber's confirmation mail, `w` a subscriber's welcome mail, `t` a test send. Whatever comes back to that
address, a DSN, a vacation notice or a hand-written reply, is tied to the copy by
the address alone, however mangled the bounce. The short MAC (HMAC-SHA256 under a
key derived from SECRET_KEY, 50 bits in base32) makes the addresses unguessable:
the receiver refuses any other address at RCPT, so nobody can bounce a subscriber
out of the list by writing to `b-123-…`, and it never relays.

A copy's id is `<delivery id>s<subscriber id>` (`copy_ident`): retention deletes the
rows of old copies that simply arrived, and a complaint about such a copy, months
later, must still reach its subscriber; the subscriber id under the same MAC is
what lets it, with nothing stored per copy. Addresses made before it was added
(`b-<delivery id>-…`) still verify and name no subscriber.

Lower case only: some servers lower-case the local part of a bounce address.
It lives in `mail` (not in `feedback`) because the composer makes the addresses
and mail comes before every feature; `feedback` verifies them with `parse()`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

ISSUE, CONFIRMATION, TEST, WELCOME = "b", "c", "t", "w"
KINDS = (ISSUE, CONFIRMATION, TEST, WELCOME)
# Kinds whose id is a subscriber's: what comes back acts on that subscriber.
PER_SUBSCRIBER = (CONFIRMATION, WELCOME)
_MAC_CHARS = 10
_LOCAL = re.compile(r"([bctw])-([0-9a-z]{1,32})-([a-z2-7]{10})")


@dataclass(frozen=True)
class BounceAddress:
    kind: str  # ISSUE, CONFIRMATION, WELCOME or TEST
    ident: str  # a copy's `copy_ident`, a subscriber id, or a random test id

    @property
    def delivery_id(self) -> int | None:
        """The copy of an issue it names."""
        return int(self.ident.partition("s")[0]) if self.kind == ISSUE else None

    @property
    def subscriber_id(self) -> int | None:
        """Who it was sent to: the subscriber of a confirmation or welcome mail, or the
        one a copy's address names (None in a copy's address of the older form)."""
        if self.kind in PER_SUBSCRIBER:
            return int(self.ident)
        if self.kind == ISSUE and "s" in self.ident:
            return int(self.ident.partition("s")[2])
        return None


def copy_ident(delivery_id: int, subscriber_id: int) -> str:
    """The id in a copy's bounce address: its delivery and its subscriber."""
    return f"{delivery_id}s{subscriber_id}"


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"newsletter verp v1", hashlib.sha256).digest()


def _mac(key: bytes, kind: str, ident: str) -> str:
    digest = hmac.new(key, f"{kind}-{ident}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:_MAC_CHARS].lower()


class Verp:
    """Makes and checks this deployment's bounce addresses (key derived once)."""

    def __init__(self, secret_key: str, domain: str):
        self.domain = domain.lower()
        self._key = _key(secret_key)

    def address(self, kind: str, ident: int | str) -> str:
        ident = str(ident).lower()
        if kind not in KINDS or not re.fullmatch(r"[0-9a-z]{1,32}", ident):
            raise ValueError(f"not a bounce address kind and id: {kind!r} {ident!r}")
        return f"{kind}-{ident}-{_mac(self._key, kind, ident)}@{self.domain}"

    def parse(self, address: str) -> BounceAddress | None:
        """The copy a bounce address names, or None if it is not one of ours (wrong
        domain, malformed, or a MAC that does not verify)."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower().rstrip(".") != self.domain:
            return None
        match = _LOCAL.fullmatch(local.lower())
        if match is None:
            return None
        kind, ident, mac = match.groups()
        if not hmac.compare_digest(mac, _mac(self._key, kind, ident)):
            return None
        return BounceAddress(kind, ident)
