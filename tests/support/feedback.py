"""The feedback inbox drained the way the worker drains it: `apply_feedback`'s own step."""
from __future__ import annotations

from newsletter.feedback import inbox


def apply_inbox(db, settings) -> inbox.Drained:
    """Apply everything waiting, one set per commit, as `workers.feedback.apply_feedback` does."""
    total = inbox.Drained(0, 0)
    while True:
        with db.session() as session:
            drained = inbox.apply_waiting(session, settings)
            session.commit()
        total = inbox.Drained(total.applied + drained.applied, total.failed + drained.failed)
        if drained.applied + drained.failed < inbox.APPLY_BATCH:
            return total
