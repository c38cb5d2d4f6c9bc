"""The queue's partial indexes serve only queries that name their statuses as
literals: a bound parameter cannot prove a partial index's predicate (PostgreSQL's
generic plans, which psycopg's prepared statements may get, and SQLite always), and
the claim would then scan every row the issue ever had."""
from __future__ import annotations

from sqlalchemy import event
from support.delivery import make_sending_issue, make_subscribers

from newsletter.delivery import ledger, sweep

WAITING = "status IN ('pending', 'deferred')"
SENDING = "status IN ('sending')"


def test_the_queue_queries_name_the_partial_indexes_statuses(app, db, session, settings):
    make_subscribers(session, 5)
    issue_id = make_sending_issue(session)
    ledger.start(session, issue_id, settings=settings)
    session.commit()
    seen: list[str] = []

    def keep(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        with db.session() as s:
            asked = {
                "claim": lambda: ledger.claim(s, settings, issue_id, group="other", limit=2),
                "due count": lambda: ledger.due_count(s, issue_id),
                "next due": lambda: ledger.next_due_at(s, issue_id),
                "finish": lambda: ledger.finish_if_done(s, issue_id),
                "sweep": lambda: sweep.sweep(s, settings),
            }
            statements = {}
            for name, ask in asked.items():
                seen.clear()
                ask()
                statements[name] = [sql for sql in seen if "deliveries" in sql]
            s.rollback()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    claim_due, read_back = statements["claim"][0], statements["claim"][1]
    assert WAITING in claim_due and SENDING in read_back
    assert WAITING in statements["due count"][0] and WAITING in statements["next due"][0]
    assert WAITING in statements["finish"][0] and SENDING in statements["finish"][0]
    assert SENDING in statements["sweep"][0]
