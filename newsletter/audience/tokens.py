"""Every token the service hands out, and the links that carry them.

Confirmation tokens are signed, expire, are bound to their purpose by the salt,
and work once: they carry the subscriber's current `confirm_nonce`, which is
rotated when the token is used or a new link is asked for.

Unsubscribe and manage tokens never expire: random values stored per subscriber
and compared in constant time, so links in old issues keep working across
SECRET_KEY rotations. They are two tokens because they open different doors: the
unsubscribe URL travels in a header that mailbox providers read and act on; the
manage page can also erase the person.
"""
from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRM_PURPOSE = "newsletter.confirm-subscription"


class TokenError(Exception):
    """A token that cannot be used; `reason` says why, for the page."""

    reason = "invalid"


class TokenInvalid(TokenError):
    reason = "invalid"


class TokenExpired(TokenError):
    reason = "expired"


class TokenUsed(TokenError):
    reason = "used"


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_unsubscribe_token() -> str:
    return secrets.token_urlsafe(32)


def new_manage_token() -> str:
    return secrets.token_urlsafe(32)


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=purpose)


def make_confirm_token(secret_key: str, subscriber_id: int, nonce: str) -> str:
    return _serializer(secret_key, CONFIRM_PURPOSE).dumps([subscriber_id, nonce])


def read_confirm_token(secret_key: str, token: str, max_age_seconds: int) -> tuple[int, str]:
    """Return (subscriber id, nonce); the caller checks the nonce is still current."""
    try:
        data = _serializer(secret_key, CONFIRM_PURPOSE).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenExpired() from None
    except BadSignature:
        raise TokenInvalid() from None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not isinstance(data[0], int)
        or not isinstance(data[1], str)
    ):
        raise TokenInvalid()
    return data[0], data[1]


def nonce_matches(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def unsubscribe_token_matches(stored: str, given: str) -> bool:
    return hmac.compare_digest(stored.encode(), given.encode())


manage_token_matches = unsubscribe_token_matches


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url}/confirm/{token}"


def unsubscribe_url(base_url: str, subscriber_id: int, token: str) -> str:
    return f"{base_url}/unsubscribe/{subscriber_id}/{token}"


def manage_url(base_url: str, subscriber_id: int, token: str) -> str:
    return f"{base_url}/manage/{subscriber_id}/{token}"
