"""An issue over three category sets and one with nothing in it, sent by a real worker:
each reader gets exactly the comparisons of their categories, in the editor's order,
rendered once per set; nobody gets an empty mail, and the report counts them apart."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.delivery import issue_status, make_subscribers, purge_broker, recipients, status_counts
from support.issues import make_comparison

from newsletter.db import utcnow
from newsletter.issues import drafts, scheduling
from newsletter.models import IssueStatus, IssueVariant, Subscriber

CHOICES = {0: "", 1: "Developer Tools", 2: "Image\nWriting", 3: "Video", 4: "Developer Tools"}
TITLES = {"Developer Tools": "Dev A vs Dev B", "Image": "Pix A vs Pix B", "Writing": "Pen A vs Pen B"}


def wait_until(predicate, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.worker
def test_each_reader_gets_their_categories(app, db, settings, smtp, celery_app, celery_worker):
    purge_broker(celery_app)
    now = utcnow()
    with db.session() as session:
        ids = make_subscribers(session, len(CHOICES))
        for i, key in CHOICES.items():
            session.execute(update(Subscriber).where(Subscriber.id == ids[i]).values(categories=key))
        for hours, (category, title) in enumerate(TITLES.items()):
            name_a, name_b = title.split(" vs ")
            comparison = make_comparison(session, name_a, name_b, published_at=now - timedelta(hours=10 - hours))
            for tool in comparison.tools:
                tool.category = category
        issue = drafts.refresh_draft(session, now - timedelta(days=1)).issue
        scheduling.schedule(session, issue, now + timedelta(seconds=1), settings, now=now - timedelta(minutes=1))
        issue_id = issue.id
        order = [item.comparison.title for item in issue.items]
        session.commit()

    from workers.issues import start_due_issues

    wait_until(lambda: utcnow() > now + timedelta(seconds=1), timeout=5)
    start_due_issues.delay()
    wait_until(lambda: issue_status(db, issue_id) == IssueStatus.SENT)
    smtp.wait_for(4)
    got = recipients(smtp)
    assert got == {f"reader{i:05d}@example.com": 1 for i in (0, 1, 2, 4)}  # reader 3: nothing, no mail

    for mail in smtp.messages():
        i = int(mail.envelope_to[0][6:11])
        wanted = [t for t in order if not CHOICES[i] or any(TITLES[c] == t for c in CHOICES[i].split("\n"))]
        for part in (mail.html, mail.text):
            present = [t for t in order if t in part]
            assert present == wanted, (i, present)
        positions = [mail.text.index(t) for t in wanted]
        assert positions == sorted(positions)  # the editor's order
        assert mail.message["Subject"].startswith(wanted[0])
        assert mail.message["List-Unsubscribe"]

    counts = status_counts(db, issue_id)
    assert counts == {"sent": 4, "empty": 1}
    with db.session() as session:
        # Rendered once per distinct set in the audience, not per person.
        keys = sorted(session.scalars(select(IssueVariant.key).where(IssueVariant.issue_id == issue_id)))
    assert keys == ["Developer Tools", "Image\nWriting", "Video"]
