"""The bounce-rate guard with real workers: an issue sent to a bad list pauses itself,
with the reason shown, before it has mailed everyone."""
from __future__ import annotations

import pytest
from support.delivery import address, drive, make_sending_issue, make_subscribers, status_counts

from newsletter.models import Issue
from workers.delivery import dispatch_issue

pytestmark = pytest.mark.worker


@pytest.fixture
def env(env):
    return {**env, "MAX_BOUNCE_RATE": "10", "BOUNCE_RATE_MIN_SAMPLE": "20", "SEND_BATCH_SIZE": "20",
            "SEND_PARALLEL_BATCHES": "1"}


def test_an_issue_pauses_when_its_hard_bounces_pass_the_limit(app, db, session, smtp, worker_process):
    make_subscribers(session, 100)
    for i in range(0, 100, 3):  # a third of the list is dead
        smtp.refuse[address(i)] = "550 5.1.1 No such user"
    issue_id = make_sending_issue(session)
    session.commit()
    worker_process("--pool", "solo")
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=60) == "paused"
    counts = status_counts(db, issue_id)
    assert counts.get("pending", 0) + counts.get("deferred", 0) >= 60, counts  # stopped early
    assert counts.get("bounced", 0) >= 2
    with db.session() as s:
        reason = s.get(Issue, issue_id).pause_reason
    assert "hard-bounced" in reason and "MAX_BOUNCE_RATE 10 %" in reason


def test_a_clean_list_is_not_paused(app, db, session, smtp, worker_process):
    make_subscribers(session, 60)
    smtp.refuse[address(5)] = "550 5.1.1 No such user"  # 1 of 60: under 10 %
    issue_id = make_sending_issue(session)
    session.commit()
    worker_process("--pool", "solo")
    dispatch_issue.delay(issue_id)
    assert drive(db, issue_id, timeout=60) == "sent"
    assert status_counts(db, issue_id) == {"sent": 59, "bounced": 1}
