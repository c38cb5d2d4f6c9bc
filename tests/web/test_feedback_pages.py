"""What editors see of the feedback: the delivery page, `newsletter status`, and the
sender-health page with the mail nobody could read (escaped, never rendered)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support.delivery import address, make_sending_issue, make_subscribers
from support.editors import login, make_editor

from newsletter.cli import main
from newsletter.db import utcnow
from newsletter.delivery import ledger
from newsletter.feedback import inbound, inbox, policy, stats
from newsletter.feedback.models import Disposition, FeedbackKind, InboundMessage, InboxEntry
from newsletter.models import Delivery


@pytest.fixture
def issue_with_feedback(db, settings):
    """Issue sent to 10: one hard bounce, one soft, one complaint, one unsubscribe, and
    one unreadable mail with markup in it."""
    with db.session() as session:
        make_subscribers(session, 10)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        session.execute(Delivery.__table__.update().values(status="sent", sent_at=utcnow()))
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.subscriber_id)))
        for n, kind in enumerate((FeedbackKind.HARD_BOUNCE, FeedbackKind.SOFT_BOUNCE, FeedbackKind.COMPLAINT,
                                  FeedbackKind.UNSUBSCRIBE)):
            policy.apply(session, settings, policy.Event(source="smtp", event_key=f"k{n}", kind=kind,
                                                         delivery_id=ids[n], status="5.1.1" if n == 0 else "",
                                                         reason="550 5.1.1 <b>user</b> unknown"))
        inbound.keep(session, "smtp", Disposition.UNPARSED,
                     b"Subject: <script>alert(1)</script>\r\nFrom: x@example.com\r\n\r\n<img src=x onerror=alert(2)>",
                     "b-1-aaaaaaaaaa@bounces.verdicts.test", "neither a delivery report nor an auto-reply")
        session.commit()
    return issue_id


def test_issue_counts_and_rates(db, issue_with_feedback):
    with db.session() as session:
        counts = stats.for_issue(session, issue_with_feedback)
    assert (counts.delivered, counts.hard_bounced, counts.soft_bounced, counts.complaints, counts.unsubscribes) == (
        9, 1, 1, 1, 1)
    assert counts.tried == 10 and counts.rate(counts.hard_bounced) == 10.0


def test_the_delivery_page_shows_what_came_back(client, db, issue_with_feedback):
    make_editor(db)
    login(client)
    page = client.get(f"/editor/issues/{issue_with_feedback}/delivery").get_data(as_text=True)
    assert 'data-feedback="hard_bounced">1 <span class="muted">(10.00 %)' in page
    assert 'data-feedback="complaints">1 ' in page and 'data-feedback="delivered">9 ' in page


def test_newsletter_status_shows_what_came_back(env, issue_with_feedback):
    result = CliRunner().invoke(main, ["status", str(issue_with_feedback)], env=env)
    assert result.exit_code == 0, result.output
    assert "after the relay: delivered 9 (90.0 %), hard bounced 1 (10.00 %), soft bounced 1 (10.00 %), " \
           "complaints 1 (10.000 %), unsubscribes 1 (10.00 %)" in result.output


def test_sender_health_page(client, db, issue_with_feedback):
    assert client.get("/editor/feedback/").status_code == 302  # editors only
    make_editor(db)
    login(client)
    page = client.get("/editor/feedback/").get_data(as_text=True)
    assert 'id="bounce-rate">10.00 %' in page and 'class="rate bad" id="bounce-rate"' in page
    assert 'id="complaint-rate">10.000 %' in page
    assert address(0) in page and "550 5.1.1 &lt;b&gt;user&lt;/b&gt; unknown" in page and "<b>user</b>" not in page
    assert "suppressed: bounced" in page and "unsubscribed: complaint" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    with db.session() as session:
        kept = session.scalar(select(InboundMessage.id))
    raw = client.get(f"/editor/feedback/messages/{kept}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(2)&gt;" in raw and "<img src=x" not in raw
    assert client.get(f"/editor/feedback/messages/{kept + 1}").status_code == 404


def test_a_quiet_sender_is_healthy(client, db):
    make_editor(db)
    login(client)
    page = client.get("/editor/feedback/").get_data(as_text=True)
    assert 'class="rate ok" id="bounce-rate">0.00 %' in page and "nothing has come back yet" in page


def test_the_health_page_shows_what_waits_and_what_failed_every_attempt(client, db):
    make_editor(db)
    login(client)
    assert 'id="health-inbox"' not in client.get("/editor/feedback/").get_data(as_text=True)
    with db.session() as session:
        session.add(InboxEntry(source="mailgun", events="[]"))
        session.add(InboxEntry(source="smtp", attempts=inbox.MAX_ATTEMPTS, error="ValueError: <b>odd</b> mail"))
        session.commit()
    page = client.get("/editor/feedback/").get_data(as_text=True)
    assert "1 received bounce mails or webhook requests are waiting" in page
    assert "via smtp" in page and "ValueError: &lt;b&gt;odd&lt;/b&gt; mail" in page and "<b>odd</b>" not in page
