"""Readers and subscribers: subscribe, confirm (double opt-in), unsubscribe, purge.

Services take a session and never commit: the caller (a view, a task, the CLI)
commits, and only then enqueues any mail, so a worker never looks for a row that
is not there yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, delete, func, or_, update
from sqlalchemy.orm import Session

from ..db import insert_for, utcnow
from . import tokens
from .addresses import clean_name, normalise_email
from .models import Subscriber, SubscriberStatus


@dataclass(frozen=True)
class Consent:
    """Where a request came from: recorded for subscribe and for confirm."""

    ip: str = ""
    user_agent: str = ""
    at: datetime = field(default_factory=utcnow)


def subscribe(
    session: Session, email: str, name: str, consent: Consent, mail_interval: timedelta, categories: str = ""
) -> Subscriber | None:
    """`record_request()`, with the subscriber loaded: for callers that go on to work with it."""
    subscriber_id = record_request(session, email, name, consent, mail_interval, categories)
    return None if subscriber_id is None else session.get(Subscriber, subscriber_id, populate_existing=True)


def record_request(
    session: Session, email: str, name: str, consent: Consent, mail_interval: timedelta, categories: str = ""
) -> int | None:
    """Record a subscribe request; return the subscriber's id if a confirmation mail is due.

    Whatever the address's state, the reader sees the same answer; what differs is
    only whether a mail goes out: never to a confirmed subscriber, and at most one
    per address per `mail_interval`. `categories` (a `readers.categories` key) is
    taken only for a new address: a known one keeps its own choice (the subscribe
    form is not their authority to change it; the manage page is).

    One statement whatever the address's state (`_request_statement`), so a request
    costs one round trip and no ORM object. Two requests for the same new address at
    once make one row (and no error); for a known address the conflict locks the row
    and the second request sees the first's update, so two at once send at most one mail.
    """
    address, key = normalise_email(email)
    return session.scalar(
        _request_statement(insert_for(session)),
        dict(
            email=address, email_key=key, name=clean_name(name), categories=categories, at=consent.at,
            ip=consent.ip[:45], user_agent=consent.user_agent[:512], nonce=tokens.new_nonce(),
            unsubscribe_token=tokens.new_unsubscribe_token(), mail_due_before=consent.at - mail_interval,
        ),
    )


@cache
def _request_statement(insert_into):
    """INSERT ... ON CONFLICT DO UPDATE ... WHERE a mail is due ... RETURNING the id.

    A new address is inserted pending; a known one is asked again (a new confirmation
    nonce, the new consent, the new name if one was given) only when it is not
    confirmed and its last mail was asked for before `mail_due_before`; otherwise the
    statement returns nothing. Built once per dialect (its `insert_into`), with bound
    parameters and on the table rather than the ORM entity, so a request only sends it.
    """
    table = Subscriber.__table__
    asked = dict(
        status=SubscriberStatus.PENDING,
        requested_at=bindparam("at"),
        request_ip=bindparam("ip"),
        request_user_agent=bindparam("user_agent"),
        confirm_nonce=bindparam("nonce"),
        confirm_mail_requested_at=bindparam("at"),
        confirm_mail_attempts=0,
        confirm_mail_retry_at=None,
    )
    insert = insert_into(table).values(
        email=bindparam("email"), email_key=bindparam("email_key"), name=bindparam("name"),
        categories=bindparam("categories"), unsubscribe_token=bindparam("unsubscribe_token"), **asked,
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.email_key],
        set_=dict(asked, updated_at=bindparam("at"),
                  name=func.coalesce(func.nullif(insert.excluded.name, ""), table.c.name)),
        where=and_(
            table.c.status != SubscriberStatus.CONFIRMED,
            or_(table.c.confirm_mail_requested_at.is_(None),
                table.c.confirm_mail_requested_at <= bindparam("mail_due_before")),
        ),
    ).returning(table.c.id)


def _confirm_target(session: Session, secret_key: str, token: str, max_age: timedelta) -> tuple[Subscriber, str]:
    subscriber_id, nonce = tokens.read_confirm_token(secret_key, token, int(max_age.total_seconds()))
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise tokens.TokenInvalid()
    return subscriber, nonce


def check_confirm_link(session: Session, secret_key: str, token: str, max_age: timedelta) -> bool:
    """Whether a confirmation link opened in a browser can still confirm (True), or
    its subscription is already confirmed (False); a `TokenError` otherwise.

    Only reads: the page shows a button, and only its POST confirms.
    """
    subscriber, nonce = _confirm_target(session, secret_key, token, max_age)
    if tokens.nonce_matches(subscriber.confirm_nonce, nonce):
        return True
    if subscriber.status == SubscriberStatus.CONFIRMED:
        return False
    raise tokens.TokenUsed()


def confirm(
    session: Session, secret_key: str, token: str, max_age: timedelta, consent: Consent
) -> Subscriber:
    """Confirm the subscription a token was issued for; raise a `TokenError` if it can't.

    The nonce is cleared on use, so a second POST with the same token is `used`;
    the conditional UPDATE makes two concurrent POSTs confirm only once.
    """
    subscriber, nonce = _confirm_target(session, secret_key, token, max_age)
    if not tokens.nonce_matches(subscriber.confirm_nonce, nonce):
        raise tokens.TokenUsed()
    if subscriber.status != SubscriberStatus.PENDING:
        raise tokens.TokenUsed()
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id, Subscriber.confirm_nonce == nonce)
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


def resubscribe(session: Session, subscriber: Subscriber, consent: Consent) -> bool:
    """Restore an unsubscribed person at once, recording this as their consent.

    Only from the unsubscribed page, which they reached through the link in a mail
    they received: holding its token proves the mailbox is theirs, so a second
    opt-in mail would prove nothing more. False when they were not unsubscribed.
    """
    result = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id, Subscriber.status == SubscriberStatus.UNSUBSCRIBED)
        .values(
            status=SubscriberStatus.CONFIRMED,
            requested_at=consent.at,
            request_ip=consent.ip[:45],
            request_user_agent=consent.user_agent[:512],
            confirmed_at=consent.at,
            confirm_ip=consent.ip[:45],
            confirm_user_agent=consent.user_agent[:512],
            unsubscribed_at=None,
            confirm_nonce="",
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(subscriber)
    return result.rowcount == 1


def purge_unconfirmed(session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete subscribers that never confirmed; their consent expired with them."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(
        delete(Subscriber).where(
            and_(Subscriber.status == SubscriberStatus.PENDING, Subscriber.requested_at < cutoff)
        )
    )
    return result.rowcount or 0


def find_for_manage(session: Session, subscriber_id: int, token: str) -> Subscriber | None:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not tokens.manage_token_matches(subscriber.manage_token, token):
        return None
    return subscriber


def rename(session: Session, subscriber: Subscriber, name: str) -> None:
    """The subscriber's own new name; `InvalidSubscription` if it cannot go in a header."""
    subscriber.name = clean_name(name)
    session.flush()


def resend_confirmation(session: Session, subscriber: Subscriber, now: datetime | None = None) -> bool:
    """An editor asks for the confirmation mail again: a fresh link (the old one
    stops working) through the outbox. Only for a pending subscriber."""
    if subscriber.status != SubscriberStatus.PENDING:
        return False
    subscriber.confirm_nonce = tokens.new_nonce()
    subscriber.confirm_mail_requested_at = now or utcnow()
    subscriber.confirm_mail_attempts = 0
    subscriber.confirm_mail_retry_at = None
    session.flush()
    return True
