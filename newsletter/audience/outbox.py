"""The confirmation mail as an outbox: asked for in the subscribe request's
transaction, sent by a worker, and found again by the sweeper if the broker lost
the hint. The row says whether the mail is still due, never the broker.

What the relay answers decides what happens next: accepted, the mail is marked
sent; refused for good (a bounce or a rejected message), the address is
suppressed and nothing is retried; refused for now, the row backs off
(`confirm_mail_retry_at`, doubling from a minute to an hour) and the sweeper
tries again when it is due.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import utcnow
from ..mail import verp
from ..mail.compose import Composer, Recipient, new_message_id
from ..mail.rendering import render_confirmation
from ..mail.transport import Verdict, send_one, transport_for
from . import suppression, tokens
from .models import Subscriber, SubscriberStatus

RETRY_FIRST = timedelta(minutes=1)
RETRY_MOST = timedelta(hours=1)


class Sent(StrEnum):
    SENT = "sent"
    NOT_DUE = "not due"
    LATER = "later"  # refused for now: backing off
    REFUSED = "refused"  # refused for good: the address is suppressed


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


def _due(now: datetime):
    return (
        Subscriber.status == SubscriberStatus.PENDING,
        Subscriber.confirm_nonce != "",
        or_(Subscriber.confirm_mail_retry_at.is_(None), Subscriber.confirm_mail_retry_at <= now),
        or_(
            Subscriber.confirm_mail_sent_at.is_(None),
            Subscriber.confirm_mail_sent_at < Subscriber.confirm_mail_requested_at,
        ),
    )


def confirmations_lost(session: Session, older_than: timedelta, now: datetime | None = None) -> list[int]:
    """Ids whose confirmation mail was requested a while ago and never sent.

    The broker is a hint; this is what the sweeper uses to re-enqueue them.
    """
    now = now or utcnow()
    rows = session.scalars(
        select(Subscriber.id).where(Subscriber.confirm_mail_requested_at < now - older_than, *_due(now)).limit(1000)
    )
    return list(rows)


def confirmations_requested(session: Session, since: datetime, now: datetime | None = None,
                            limit: int = 1000) -> list[int]:
    """Ids whose confirmation mail was asked for after `since` and is still due: what
    the relay hands to the workers, so a subscribe request publishes nothing itself.
    An index on the request time keeps this cheap however many are pending."""
    now = now or utcnow()
    rows = session.scalars(
        select(Subscriber.id).where(Subscriber.confirm_mail_requested_at >= since, *_due(now))
        .order_by(Subscriber.confirm_mail_requested_at).limit(limit)
    )
    return list(rows)


def send_confirmation_mail(session: Session, settings: Settings, subscriber_id: int,
                           now: datetime | None = None) -> Sent:
    """Send the double opt-in mail if it is still due, and record what came of it.

    Sent before it is marked sent: a worker that dies in between makes the
    sweeper send it again (a duplicate confirmation is harmless, a lost one is not).
    """
    now = now or utcnow()
    subscriber = lock_for_confirmation(session, subscriber_id)
    if subscriber is None or (subscriber.confirm_mail_retry_at and subscriber.confirm_mail_retry_at > now):
        return Sent.NOT_DUE
    token = tokens.make_confirm_token(settings.secret_key, subscriber.id, subscriber.confirm_nonce)
    unsubscribe_link = tokens.unsubscribe_url(settings.base_url, subscriber.id, subscriber.unsubscribe_token)
    manage_link = tokens.manage_url(settings.base_url, subscriber.id, subscriber.manage_token)
    mail = render_confirmation(
        settings.newsletter_name,
        subscriber.name,
        tokens.confirm_url(settings.base_url, token),
        unsubscribe_link,
        settings.confirm_token_max_age_hours,
        manage_link,
    )
    composer = Composer(settings)
    template = composer.compose(mail, extra_headers={"Auto-Submitted": "auto-generated"})
    recipient = Recipient(subscriber.email, new_message_id("confirm"), unsubscribe_link, subscriber.name, manage_link)
    outcome = send_one(transport_for(settings), composer.envelope_from(verp.CONFIRMATION, subscriber.id),
                       template, recipient)
    if outcome.accepted:
        subscriber.confirm_mail_sent_at = now
        session.flush()
        return Sent.SENT
    if outcome.verdict in (Verdict.BOUNCE, Verdict.REJECT):
        suppression.refuse_confirmation(session, subscriber.id, outcome.reply, now)
        return Sent.REFUSED
    subscriber.confirm_mail_attempts += 1
    delay = min(RETRY_FIRST * 2 ** (subscriber.confirm_mail_attempts - 1), RETRY_MOST)
    subscriber.confirm_mail_retry_at = now + delay
    session.flush()
    return Sent.LATER
