""""A welcome counts as already sent": off (the default), the next issue is the same for
everyone; on, a reader's next issue leaves out what their welcome carried, and only
their next one."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from support.audience import make_subscriber
from support.issues import make_comparison

from newsletter.db import utcnow
from newsletter.delivery import categories, ledger
from newsletter.issues import drafts, scheduling
from newsletter.models import Delivery, IssueStatus, Welcome
from newsletter.readers import variants, welcome, welcome_mail


def start_issue(session, settings, *also: int) -> int:
    """Draft (adding `also` by hand), schedule and start the upcoming issue, and snapshot its audience."""
    now = utcnow()
    issue = drafts.refresh_draft(session, now - timedelta(days=30)).issue
    for comparison_id in also:
        drafts.add_comparison(session, issue, comparison_id)
    scheduling.schedule(session, issue, now + timedelta(seconds=1), settings, now=now)
    assert scheduling.start_due(session, settings, now=now + timedelta(seconds=2)) == [issue.id]
    assert ledger.start(session, issue.id)
    categories.snapshot(session, settings, issue.id)
    session.commit()
    return issue.id


def received(session, issue_id: int, subscriber_id: int) -> list[str]:
    key = session.scalar(select(Delivery.variant).where(Delivery.issue_id == issue_id,
                                                        Delivery.subscriber_id == subscriber_id))
    mail = variants.frozen(session, issue_id, key) if key else ledger.frozen_mail(session, issue_id)
    return [t for t in ("Pen A vs Pen B", "Ink A vs Ink B", "New A vs New B") if t in mail.text]


@pytest.mark.parametrize("counts_as_sent", [False, True])
def test_the_next_issue_with_and_without_the_setting(db, settings, smtp, counts_as_sent):
    with db.session() as session:
        welcome_mail.update_settings(session, enabled=True, subject="", intro="", catchup_days="7",
                                     counts_as_sent=counts_as_sent)
        pen, _ = (make_comparison(session, f"{name} A", f"{name} B", published_at=utcnow() - timedelta(days=days))
                  for name, days in (("Pen", 3), ("Ink", 2)))
        ada, bob = make_subscriber(session, "ada@example.com"), make_subscriber(session, "bob@example.com")
        welcome.ask(session, ada.id)
        session.commit()
    assert welcome.deliver(db, settings, ada.id) == "sent"  # no issue yet: the last 7 days, Pen and Ink
    with db.session() as session:
        make_comparison(session, "New A", "New B", published_at=utcnow() - timedelta(hours=1))
        session.commit()
        first = start_issue(session, settings)
        everything = ["Pen A vs Pen B", "Ink A vs Ink B", "New A vs New B"]
        assert received(session, first, bob.id) == everything
        assert received(session, first, ada.id) == (["New A vs New B"] if counts_as_sent else everything)
        applied = session.scalar(select(Welcome.applied_issue_id).where(Welcome.subscriber_id == ada.id))
        assert applied == (first if counts_as_sent else None)

        # Their next issue only: a later one is the same for everyone again, even
        # holding (added back by an editor) a comparison their welcome carried.
        session.execute(Delivery.__table__.update().values(status="sent"))
        assert ledger.finish_if_done(session, first) == IssueStatus.SENT
        make_comparison(session, "Later A", "Later B", published_at=utcnow() + timedelta(minutes=1))
        session.commit()
        second = start_issue(session, settings, pen.id)
        assert received(session, second, ada.id) == ["Pen A vs Pen B"]
        assert set(session.scalars(select(Delivery.variant).where(Delivery.issue_id == second))) == {""}
        assert session.scalar(select(Welcome.applied_issue_id).where(Welcome.subscriber_id == ada.id)) == (
            first if counts_as_sent else None)
