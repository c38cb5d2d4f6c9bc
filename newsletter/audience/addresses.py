"""A reader's address and name, checked as typed: the only judge of what is valid.

Every way a person enters the list (the form, an import) comes through here, so
one address is one person however it is typed, and nothing that could break a
mail header is ever stored.
"""
from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254
# RFC 5321 4.5.3.1.1; email-validator lets longer local parts through, relays do not.
MAX_LOCAL_PART_LENGTH = 64
MAX_NAME_LENGTH = 100


class InvalidSubscription(ValueError):
    """Bad reader input; `field` names the form field, the message is for the reader."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def normalise_email(raw: str) -> tuple[str, str]:
    """Return (address to mail, key that identifies the person) or raise.

    Surrounding space goes, the domain is lower-cased (and IDNA-normalised by
    email-validator); the key is the whole address lower-cased.
    """
    value = (raw or "").strip()
    if not value:
        raise InvalidSubscription("email", "Please enter your email address.")
    if any(ch in value for ch in "\r\n\0") or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidSubscription("email", "That email address contains characters that are not allowed.")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidSubscription("email", f"That email address is longer than {MAX_EMAIL_LENGTH} characters.")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidSubscription("email", f"That is not a valid email address: {exc}") from None
    if len(result.local_part) > MAX_LOCAL_PART_LENGTH:
        raise InvalidSubscription("email", f"The part before the @-sign can be at most {MAX_LOCAL_PART_LENGTH} "
                                           "characters; mail servers refuse longer ones.")
    email = f"{result.local_part}@{result.domain.lower()}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidSubscription("email", f"That email address is longer than {MAX_EMAIL_LENGTH} characters.")
    return email, email.lower()


def clean_name(raw: str | None) -> str:
    """A display name safe to put in a header: no line breaks or control characters."""
    value = (raw or "").strip()
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise InvalidSubscription("name", "Your name cannot contain line breaks or control characters.")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidSubscription("name", f"Your name can be at most {MAX_NAME_LENGTH} characters.")
    return value
