"""Demo data for `newsletter dev`, so a newcomer has something to look at and send."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import importer, tokens
from .config import Settings, load_settings
from .db import utcnow
from .models import Subscriber, SubscriberStatus

DEMO_SUBSCRIBERS = [
    ("ada@example.com", "Ada"),
    ("grace@example.com", "Grace"),
    ("linus@example.org", "Linus"),
]


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
    demo_comparisons = importer.load_demo(session, settings or load_settings())
    return (f"{total} subscribers, {added} demo rows added; demo comparisons: {demo_comparisons.line()}; "
            f"{_demo_editor(session)}")


# Dev only: a newcomer can log in to /editor at once. Production accounts come from
# `newsletter create-editor`, with a password of their own.
DEMO_EDITOR = ("editor@example.com", "demo-editor-password")


def _demo_editor(session: Session) -> str:
    from . import editors

    if not editors.list_editors(session):
        editors.create_editor(session, *DEMO_EDITOR)
    if editors.find_editor(session, DEMO_EDITOR[0]) is not None:
        return f"editor login {DEMO_EDITOR[0]} / {DEMO_EDITOR[1]}"
    return "editors: see `newsletter list-editors`"
