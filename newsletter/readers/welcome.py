"""The welcome mail as a ledger: asked for when a reader confirms, sent once by a worker.

The `welcomes` row is the truth, a Celery message only a hint, as for an issue:

- `ask()` (in the confirming request's transaction) makes the subscriber's one row,
  INSERT ... ON CONFLICT DO NOTHING, so a second confirmation, a resubscription or
  a retried request never makes a second;
- `deliver()` claims the row with one conditional UPDATE that takes a lease and
  commits it before anything is sent, so a second worker (a duplicate message, the
  sweeper's re-enqueue) finds nothing due; it sends, then writes the outcome under
  that lease. A worker killed before the relay accepted leaves the row `sending`;
  once the lease has expired the row is claimed again and the mail sent then.
  A final row (`sent`, `bounced`, `failed`, `skipped`, `empty`) is never sent again.
- `lost()` is what the sweeper re-enqueues: rows whose message was lost, whose
  retry time has come, or whose worker died.

Only between the relay's "250" and the commit that records it can a death make
the mail go twice; every attempt carries the same Message-ID
(`welcome.sub-<id>`), so a mailbox that drops repeated Message-IDs shows one.

Like `delivery.engine`, `deliver()` takes a `Database` and commits its own short
transactions: the claim must be committed before the relay is spoken to.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from ..audience import suppression, tokens
from ..audience.models import Subscriber, SubscriberStatus
from ..config import Settings
from ..db import Database, insert_for, utcnow
from ..mail import verp
from ..mail.compose import Composer, Recipient
from ..mail.headers import HeaderError
from ..mail.rendering import RenderError
from ..mail.transport import Outcome, Verdict, send_one, transport_for
from . import welcome_mail
from .models import Welcome
from .models import WelcomeStatus as W

log = logging.getLogger(__name__)
_w = Welcome.__table__
# A pending row younger than this still has its Celery message on the way.
LOST_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class _Claimed:
    welcome_id: int
    attempts: int
    lease: datetime


def lease_length(settings: Settings) -> timedelta:
    """Long enough for one send at the relay's slowest (each SMTP step may take
    SMTP_TIMEOUT), so a live worker never loses its claim to another."""
    return timedelta(seconds=settings.send_lease_seconds + 3 * settings.smtp_timeout)


def ask(session: Session, subscriber_id: int, now: datetime | None = None) -> bool:
    """On confirmation: the subscriber's welcome row, if the welcome is on; True if
    it was made now (a reader who had one, even long ago, never gets another)."""
    if not welcome_mail.get_settings(session).enabled:
        return False
    now = now or utcnow()
    made = session.scalar(
        insert_for(session)(Welcome)
        .values(subscriber_id=subscriber_id, status=W.PENDING, attempts=0, next_attempt_at=now, last_reply="",
                created_at=now, updated_at=now, comparison_ids="")
        .on_conflict_do_nothing(index_elements=["subscriber_id"])
        .returning(Welcome.id)
    )
    return made is not None


def _due(now: datetime):
    return or_(and_(_w.c.status.in_(W.WAITING), _w.c.next_attempt_at <= now),
               and_(_w.c.status == W.SENDING, _w.c.lease_expires_at < now))


def claim(session: Session, settings: Settings, subscriber_id: int, now: datetime | None = None) -> _Claimed | None:
    """Take the subscriber's row if it is due (or its worker died); None if not."""
    now = now or utcnow()
    lease = now + lease_length(settings)
    row = session.execute(
        update(_w).where(_w.c.subscriber_id == subscriber_id, _due(now))
        .values(status=W.SENDING, lease_expires_at=lease, attempts=_w.c.attempts + 1, updated_at=now)
        .returning(_w.c.id, _w.c.attempts)
    ).one_or_none()
    return None if row is None else _Claimed(row.id, row.attempts, lease)


def finish(session: Session, claimed: _Claimed, status: str, reply: str, now: datetime | None = None,
           **values) -> bool:
    """Write the outcome of a claim, only while the claim is still ours."""
    now = now or utcnow()
    done = session.execute(
        update(_w).where(_w.c.id == claimed.welcome_id, _w.c.status == W.SENDING,
                         _w.c.lease_expires_at == claimed.lease)
        .values(status=status, last_reply=reply[:2000], lease_expires_at=None, updated_at=now, **values)
    ).rowcount
    return bool(done)


def record(session: Session, settings: Settings, claimed: _Claimed, subscriber_id: int, outcome: Outcome,
           now: datetime | None = None) -> str:
    """What the relay said, as the row's next state; a bounce suppresses the address.
    "lease lost" if the claim expired meanwhile (another worker may hold the row now)."""
    now = now or utcnow()
    if outcome.verdict == Verdict.ACCEPTED:
        status, values = W.SENT, {"sent_at": now}
    elif outcome.verdict == Verdict.BOUNCE:
        status, values = W.BOUNCED, {}
        suppression.mark_bounced(session, [(subscriber_id, outcome.reply)], now)
    elif outcome.verdict == Verdict.REJECT or claimed.attempts >= settings.send_max_attempts:
        status, values = W.FAILED, {}
    else:  # RETRY, or STOP (the relay refuses us): try again later
        delay = min(settings.send_retry_base_seconds * 2 ** (claimed.attempts - 1), settings.send_retry_max_seconds)
        status, values = W.DEFERRED, {"next_attempt_at": now + timedelta(seconds=delay)}
    if not finish(session, claimed, status, outcome.reply, now, **values):
        log.warning("welcome %s: the claim expired before its outcome (%s) was written", claimed.welcome_id, status)
        return "lease lost"
    return status


def deliver(db: Database, settings: Settings, subscriber_id: int, now: datetime | None = None) -> str:
    """Send the subscriber's welcome if it is due; return the row's new state, or "not due"."""
    with db.session() as session:
        claimed = claim(session, settings, subscriber_id, now)
        if claimed is None:
            session.commit()
            return "not due"
        subscriber = session.get(Subscriber, subscriber_id)
        welcome = welcome_mail.get_settings(session)
        if subscriber is None or subscriber.status not in SubscriberStatus.RECEIVING or not welcome.enabled:
            why = "no longer subscribed" if welcome.enabled else "the welcome is turned off"
            finish(session, claimed, W.SKIPPED, why)
            session.commit()
            return W.SKIPPED
        content = welcome_mail.content_for(session, welcome, subscriber.categories, now)
        if not content.comparisons:
            finish(session, claimed, W.EMPTY, "nothing to catch up on in their categories")
            session.commit()
            return W.EMPTY
        try:
            mail = welcome_mail.render_welcome(settings, welcome, content, subscriber.categories, subscriber.name)
        except RenderError as exc:  # a template bug: back off (like a relay's "not now"), then give up
            log.error("welcome to subscriber %s cannot be rendered: %s", subscriber_id, exc)
            status = record(session, settings, claimed, subscriber_id, Outcome(Verdict.RETRY, f"cannot render: {exc}"),
                            now)
            session.commit()
            return status
        session.execute(update(_w).where(_w.c.id == claimed.welcome_id).values(
            source_issue_id=content.issue.id if content.issue is not None else None,
            comparison_ids=",".join(str(i) for i in content.ids)))
        unsubscribe = tokens.unsubscribe_url(settings.base_url, subscriber.id, subscriber.unsubscribe_token)
        recipient = Recipient(subscriber.email, f"welcome.sub-{subscriber.id}", unsubscribe, subscriber.name,
                              tokens.manage_url(settings.base_url, subscriber.id, subscriber.manage_token))
        session.commit()  # the claim (and what it will carry) is ours before the relay hears of it
    composer = Composer(settings)
    try:
        outcome = send_one(transport_for(settings), composer.envelope_from(verp.WELCOME, subscriber_id),
                           composer.compose(mail), recipient)
    except HeaderError as exc:
        outcome = Outcome(Verdict.REJECT, str(exc))
    with db.session() as session:
        status = record(session, settings, claimed, subscriber_id, outcome, now)
        session.commit()
    if status != W.SENT:
        log.info("welcome to subscriber %s: %s (%s)", subscriber_id, status, outcome.reply)
    return status


def lost(session: Session, now: datetime | None = None, limit: int = 1000,
         pending_for: timedelta = LOST_AFTER) -> list[int]:
    """Subscriber ids whose welcome is due and has no message on the way: pending for
    `pending_for`, deferred and due, or claimed by a worker whose lease expired.
    A duplicate hint is harmless (the claim lets one through), a missing one is not."""
    now = now or utcnow()
    rows = session.scalars(
        select(Welcome.subscriber_id).where(or_(
            and_(Welcome.status == W.PENDING, Welcome.next_attempt_at <= now - pending_for),
            and_(Welcome.status == W.DEFERRED, Welcome.next_attempt_at <= now),
            and_(Welcome.status == W.SENDING, Welcome.lease_expires_at < now),
        )).order_by(Welcome.id).limit(limit)
    )
    return list(rows)


def counts(session: Session) -> dict[str, int]:
    """How many welcomes are in each state: what the editors' page shows."""
    return dict(session.execute(select(Welcome.status, func.count()).group_by(Welcome.status)).all())


def record_of(session: Session, subscriber_id: int) -> dict | None:
    """The reader's welcome as their own data export shows it (None: they have none)."""
    row = session.scalar(select(Welcome).where(Welcome.subscriber_id == subscriber_id))
    if row is None:
        return None
    return {"status": row.status, "attempts": row.attempts, "asked_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None, "server_reply": row.last_reply}
