"""Readers and subscribers: subscribe, confirm (double opt-in), unsubscribe, purge.

Services take a session and never commit: the caller (a view, a task, the CLI)
commits, and only then enqueues any mail, so a worker never looks for a row that
is not there yet.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from . import tokens
from .db import insert_for, utcnow
from .models import Subscriber, SubscriberStatus

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100


class InvalidSubscription(ValueError):
    """Bad reader input; `field` names the form field, the message is for the reader."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Consent:
    """Where a request came from: recorded for subscribe and for confirm."""

    ip: str = ""
    user_agent: str = ""
    at: datetime = field(default_factory=utcnow)


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


def find_by_email(session: Session, email_key: str, lock: bool = False) -> Subscriber | None:
    query = select(Subscriber).where(Subscriber.email_key == email_key)
    return session.scalar(query.with_for_update() if lock else query)


def subscribe(
    session: Session, email: str, name: str, consent: Consent, mail_interval: timedelta
) -> Subscriber | None:
    """Record a subscribe request; return the subscriber if a confirmation mail is due.

    Whatever the address's state, the reader sees the same answer; what differs is
    only whether a mail goes out: never to a confirmed subscriber, and at most one
    per address per `mail_interval`.

    A new address is one INSERT ... ON CONFLICT DO NOTHING, so two requests for
    the same new address at once make one row (and no error); a known address is
    row-locked, so two requests at once send at most one mail.
    """
    address, key = normalise_email(email)
    name = clean_name(name)
    request = dict(
        status=SubscriberStatus.PENDING,
        requested_at=consent.at,
        request_ip=consent.ip[:45],
        request_user_agent=consent.user_agent[:512],
        confirm_nonce=tokens.new_nonce(),
        confirm_mail_requested_at=consent.at,
    )
    created = session.scalar(
        insert_for(session)(Subscriber)
        .values(email=address, email_key=key, name=name, unsubscribe_token=tokens.new_unsubscribe_token(), **request)
        .on_conflict_do_nothing(index_elements=["email_key"])
        .returning(Subscriber)
    )
    if created is not None:
        return created

    subscriber = find_by_email(session, key, lock=True)
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return None
    if (
        subscriber.confirm_mail_requested_at is not None
        and consent.at - subscriber.confirm_mail_requested_at < mail_interval
    ):
        return None
    for column, value in request.items():
        setattr(subscriber, column, value)
    subscriber.name = name or subscriber.name
    session.flush()
    return subscriber


def confirm(
    session: Session, secret_key: str, token: str, max_age: timedelta, consent: Consent
) -> Subscriber:
    """Confirm the subscription a token was issued for; raise a `TokenError` if it can't.

    The nonce is cleared on use, so a second POST with the same token is `used`;
    the conditional UPDATE makes two concurrent POSTs confirm only once.
    """
    subscriber_id, nonce = tokens.read_confirm_token(secret_key, token, int(max_age.total_seconds()))
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise tokens.TokenInvalid()
    if not tokens.nonce_matches(subscriber.confirm_nonce, nonce):
        raise tokens.TokenUsed()
    if subscriber.status != SubscriberStatus.PENDING:
        raise tokens.TokenUsed()
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.confirm_nonce == nonce)
        .values(
            status=SubscriberStatus.CONFIRMED,
            confirm_nonce="",
            confirmed_at=consent.at,
            confirm_ip=consent.ip[:45],
            confirm_user_agent=consent.user_agent[:512],
            unsubscribed_at=None,
            bounced_at=None,
            bounce_reason="",
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise tokens.TokenUsed()
    session.refresh(subscriber)
    return subscriber


def find_for_unsubscribe(session: Session, subscriber_id: int, token: str) -> Subscriber | None:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not tokens.unsubscribe_token_matches(subscriber.unsubscribe_token, token):
        return None
    return subscriber


def unsubscribe(session: Session, subscriber: Subscriber, at: datetime | None = None) -> bool:
    """Unsubscribe; return False when there was nothing to change (a repeat)."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.unsubscribed_at = at or utcnow()
    subscriber.confirm_nonce = ""
    session.flush()
    return True


def confirmation_due(subscriber: Subscriber) -> bool:
    """A confirmation mail was asked for and has not gone out since."""
    return (
        subscriber.status == SubscriberStatus.PENDING
        and bool(subscriber.confirm_nonce)
        and subscriber.confirm_mail_requested_at is not None
        and (
            subscriber.confirm_mail_sent_at is None
            or subscriber.confirm_mail_sent_at < subscriber.confirm_mail_requested_at
        )
    )


def lock_for_confirmation(session: Session, subscriber_id: int) -> Subscriber | None:
    """The subscriber, row-locked where the database can, if its mail is still due.

    The lock is held while the one mail is sent, so the sweeper re-enqueuing the
    same subscriber can never make a second worker send it too.
    """
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
    )
    if subscriber is None or not confirmation_due(subscriber):
        return None
    return subscriber


def confirmations_lost(session: Session, older_than: timedelta, now: datetime | None = None) -> list[int]:
    """Ids whose confirmation mail was requested a while ago and never sent.

    The broker is a hint; this is what the sweeper uses to re-enqueue them.
    """
    cutoff = (now or utcnow()) - older_than
    rows = session.scalars(
        select(Subscriber.id).where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.confirm_nonce != "",
            Subscriber.confirm_mail_requested_at < cutoff,
            or_(
                Subscriber.confirm_mail_sent_at.is_(None),
                Subscriber.confirm_mail_sent_at < Subscriber.confirm_mail_requested_at,
            ),
        ).limit(1000)
    )
    return list(rows)


def purge_unconfirmed(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete subscribers that never confirmed; their consent expired with them."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(
        delete(Subscriber).where(
            and_(Subscriber.status == SubscriberStatus.PENDING, Subscriber.requested_at < cutoff)
        )
    )
    return result.rowcount or 0


def send_confirmation_mail(session: Session, settings, subscriber_id: int) -> bool:
    """Send the double opt-in mail if it is still due; return whether it went out.

    Sent before it is marked sent: a worker that dies in between makes the
    sweeper send it again (a duplicate confirmation is harmless, a lost one is not).
    """
    from . import mailer, rendering

    subscriber = lock_for_confirmation(session, subscriber_id)
    if subscriber is None:
        return False
    token = tokens.make_confirm_token(settings.secret_key, subscriber.id, subscriber.confirm_nonce)
    unsubscribe_link = tokens.unsubscribe_url(settings.base_url, subscriber.id, subscriber.unsubscribe_token)
    mail = rendering.render_confirmation(
        settings.newsletter_name,
        subscriber.name,
        tokens.confirm_url(settings.base_url, token),
        unsubscribe_link,
        settings.confirm_token_max_age_hours,
    )
    message = mailer.build_message(
        settings,
        to_email=subscriber.email,
        to_name=subscriber.name,
        subject=mail.subject,
        html=mail.html,
        text=mail.text,
        headers={
            "List-Unsubscribe": f"<{unsubscribe_link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    mailer.send(settings, message)
    subscriber.confirm_mail_sent_at = utcnow()
    session.flush()
    return True
