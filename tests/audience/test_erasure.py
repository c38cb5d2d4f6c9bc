"""Erasure leaves no trace of the person in any table, keeps issue counts right,
and makes a later import of the same address be flagged and refused."""
from __future__ import annotations

import sqlalchemy as sa
from support.audience import make_subscriber

from newsletter.audience import erasure, importing
from newsletter.db import Base, utcnow
from newsletter.delivery import recipient
from newsletter.models import Delivery, Erasure, ImportStatus, Issue, IssueStatus, Subscriber, SubscriberImport

KEY = "test-secret-key-0123456789"
TRACES = ["Grace.Hopper@Navy.example", "grace.hopper@navy.example", "Grace Hopper", "203.0.113.77",
          "198.51.100.77", "HopperBrowser/1.0", "HopperConfirm/2.0"]


def every_text_value(session) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, string and binary cell in the database."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.LargeBinary))]
        for row in session.execute(sa.select(*columns)) if columns else []:
            for column, value in zip(columns, row):
                if value is not None:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    found.append((table.name, column.name, text))
    return found


def traces(session) -> list[tuple[str, str, str]]:
    return [(t, c, v) for t, c, v in every_text_value(session) if any(x.lower() in v.lower() for x in TRACES)]


def test_erasure_leaves_no_trace_and_keeps_counts(session):
    other = make_subscriber(session, "other@example.com", name="Other")
    grace = make_subscriber(session, TRACES[0], name="Grace Hopper", request_ip="203.0.113.77",
                            request_user_agent="HopperBrowser/1.0", confirm_ip="198.51.100.77",
                            confirm_user_agent="HopperConfirm/2.0", consent_source="Grace Hopper's card at a fair",
                            bounce_reason="550 <grace.hopper@navy.example> mailbox full")
    imported = SubscriberImport(filename="list.csv", status=ImportStatus.DONE, report="line 2: fine", data=None)
    session.add(imported)
    sent, sending = Issue(number=1, status=IssueStatus.SENT), Issue(number=2, status=IssueStatus.SENDING)
    session.add_all([sent, sending])
    session.flush()
    grace.import_id = imported.id
    session.add_all([
        Delivery(issue_id=sent.id, subscriber_id=grace.id, status="sent", sent_at=utcnow(),
                 last_reply="250 ok queued for <Grace.Hopper@Navy.example>"),
        Delivery(issue_id=sent.id, subscriber_id=other.id, status="sent", sent_at=utcnow(), last_reply="250 ok"),
        Delivery(issue_id=sending.id, subscriber_id=grace.id, status="deferred", last_reply="451 grace.hopper later"),
    ])
    session.commit()
    assert len({t for t, _, _ in traces(session)}) >= 2, "the test must see the traces before erasing"

    assert recipient.erase_person(session, KEY, grace.id, "subscriber") is True
    session.commit()

    assert traces(session) == []
    assert session.get(Subscriber, other.id) is not None
    counts = dict(session.execute(sa.select(Delivery.status, sa.func.count()).where(Delivery.issue_id == sent.id)
                                  .group_by(Delivery.status)).all())
    assert counts == {"sent": 2}, "the sent issue still counts two deliveries"
    waiting = session.execute(sa.select(Delivery.status, Delivery.subscriber_id).where(Delivery.issue_id == sending.id)).all()
    assert waiting == [("skipped", None)], "nothing more goes to an erased address"
    record = session.scalar(sa.select(Erasure))
    assert record.requested_by == "subscriber" and len(record.email_hash) == 64
    assert record.email_hash == erasure.address_hash(KEY, "grace.hopper@navy.example")
    assert erasure.address_hash("another-key-0123456789", "grace.hopper@navy.example") != record.email_hash
    # Erasing again, or someone who does not exist, is a no.
    assert recipient.erase_person(session, KEY, grace.id, "editor") is False


def test_a_later_import_of_an_erased_address_is_flagged_and_refused(session):
    grace = make_subscriber(session, "grace@example.com")
    recipient.erase_person(session, KEY, grace.id, "editor")
    session.commit()
    checked = importing.check(b"email,name\nGRACE@example.com,Grace\nnew@example.com,New\n")
    record = SubscriberImport(filename="again.csv", consent_source="fair 2025")
    session.add(record)
    session.flush()
    importing.begin(record, checked)
    importing.run(session, KEY, record, checked)
    session.commit()
    assert session.scalars(sa.select(Subscriber.email_key)).all() == ["new@example.com"]
    assert record.rejected == 1 and record.created == 1
    assert "line 2: this address was erased on" in record.report and "grace" not in record.report.lower()
