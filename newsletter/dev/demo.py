"""Demo data for `newsletter dev`, so a newcomer has something to look at and send."""
from __future__ import annotations

from datetime import timedelta
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audience import tokens
from ..audience.models import Subscriber, SubscriberStatus
from ..comparisons import store
from ..comparisons.importer import SUFFIXES, Summary, read_comparisons
from ..config import Settings, load_settings
from ..db import utcnow
from ..editors import accounts

DEMO_SUBSCRIBERS = [
    ("ada@example.com", "Ada"),
    ("grace@example.com", "Grace"),
    ("linus@example.org", "Linus"),
]
# Dev only: a newcomer can log in to /editor at once. Production accounts come from
# `newsletter create-editor`, with a password of their own.
DEMO_EDITOR = ("editor@example.com", "demo-editor-password")


def load(session: Session, settings: Settings | None = None) -> str:
    """Add the demo rows that are missing; safe to run on every start."""
    added = 0
    for email, name in DEMO_SUBSCRIBERS:
        if session.scalar(select(Subscriber.id).where(Subscriber.email_key == email)) is None:
            now = utcnow()
            session.add(
                Subscriber(
                    email=email,
                    email_key=email,
                    name=name,
                    status=SubscriberStatus.CONFIRMED,
                    requested_at=now,
                    confirmed_at=now,
                    request_ip="127.0.0.1",
                    request_user_agent="demo data",
                    unsubscribe_token=tokens.new_unsubscribe_token(),
                )
            )
            added += 1
    session.flush()
    total = session.scalar(select(func.count()).select_from(Subscriber))
    demo_comparisons = load_comparisons(session, settings or load_settings())
    return (f"{total} subscribers, {added} demo rows added; demo comparisons: {demo_comparisons.line()}; "
            f"{_demo_editor(session)}")


def demo_files() -> list:
    folder = resources.files(__package__) / "demo_data"
    return sorted((item for item in folder.iterdir() if item.name.endswith(SUFFIXES)), key=lambda item: item.name)


def load_comparisons(session: Session, settings: Settings) -> Summary:
    """Store the shipped example comparisons through the importer's own checks;
    idempotent. New ones are dated over the past days, so this week's draft has content."""
    summary = Summary()
    now = utcnow()
    parsed = [item for resource in demo_files() for item in read_comparisons(resource.read_bytes(), resource.name)]
    for age, item in enumerate(parsed):
        result = store.upsert(session, item, settings, published_at=now - timedelta(days=age, hours=2))
        summary.counts[result.status] += 1
    return summary


def _demo_editor(session: Session) -> str:
    if not accounts.list_editors(session):
        accounts.create_editor(session, *DEMO_EDITOR)
    if accounts.find_editor(session, DEMO_EDITOR[0]) is not None:
        return f"editor login {DEMO_EDITOR[0]} / {DEMO_EDITOR[1]}"
    return "editors: see `newsletter list-editors`"
