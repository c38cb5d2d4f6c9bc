"""The snapshot's category variants: each row takes its reader's set as it was when
sending started, readers on "all" keep the whole issue, each set is rendered once,
and a set with nothing in the issue is `empty` with the reason."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.delivery import make_subscribers
from support.issues import break_variant, make_comparison

from newsletter.db import utcnow
from newsletter.delivery import categories, ledger, snapshot
from newsletter.issues import drafts, scheduling
from newsletter.models import Delivery, Issue, IssueVariant, Subscriber
from workers.delivery import dispatch_issue

KEYS = ["", "Image", "", "Video", "Image"]


def _sending_issue_over_two_categories(session, settings, now) -> int:
    for hours, category in enumerate(("Developer Tools", "Image")):
        comparison = make_comparison(session, f"{category} A", f"{category} B", published_at=now - timedelta(hours=hours + 1))
        for tool in comparison.tools:
            tool.category = category
    issue = drafts.refresh_draft(session, now).issue
    scheduling.schedule(session, issue, now, settings, now=now)
    [issue_id] = scheduling.start_due(session, settings, now=now)
    return issue_id


def test_snapshot_gives_each_row_its_readers_set(session, settings):
    now = utcnow()
    ids = make_subscribers(session, len(KEYS))
    for subscriber_id, key in zip(ids, KEYS):
        session.execute(update(Subscriber).where(Subscriber.id == subscriber_id).values(categories=key))
    issue_id = _sending_issue_over_two_categories(session, settings, now)
    ledger.start(session, issue_id)
    assert categories.snapshot(session, settings, issue_id) == 1  # the Video reader gets nothing
    session.execute(update(Subscriber).values(categories="Developer Tools"))  # later choices change nothing sent
    rows = {r.subscriber_id: r for r in session.scalars(select(Delivery).where(Delivery.issue_id == issue_id))}
    assert [rows[i].variant for i in ids] == KEYS
    assert [rows[i].status for i in ids] == ["pending", "pending", "pending", "empty", "pending"]
    assert rows[ids[3]].last_reply == categories.EMPTY_REPLY
    variants = {v.key: v for v in session.scalars(select(IssueVariant).where(IssueVariant.issue_id == issue_id))}
    assert sorted(variants) == ["Image", "Video"] and variants["Video"].empty
    assert variants["Image"].rendered_subject == "Image A vs Image B" and "Developer Tools A" not in variants["Image"].html


@pytest.mark.parametrize("chunk", [snapshot.CHUNK, 1], ids=["one chunk", "a chunk per reader"])
def test_a_variant_that_cannot_be_rendered_pauses_the_issue_with_the_reason(app, session, settings, monkeypatch,
                                                                            chunk):
    """Not a snapshot rolled back and retried every minute for ever: nothing is sent,
    the issue pauses saying why, and resuming after a fix snapshots it afresh. The
    broken set's reader comes in the second chunk: the first must not have gone out."""
    monkeypatch.setattr(snapshot, "CHUNK", chunk)
    now = utcnow()
    ids = make_subscribers(session, 2)
    session.execute(update(Subscriber).where(Subscriber.id == ids[1]).values(categories="Image"))
    issue_id = _sending_issue_over_two_categories(session, settings, now)
    session.commit()
    break_variant(monkeypatch, ["Image A vs Image B"], "issue.mjml: unexpected tag")
    assert dispatch_issue.apply(args=(issue_id,)).get() == 0
    session.expire_all()
    paused = session.get(Issue, issue_id)
    assert paused.status == "paused" and "unexpected tag" in paused.pause_reason
    assert session.scalar(select(Delivery.id).where(Delivery.issue_id == issue_id)) is None
