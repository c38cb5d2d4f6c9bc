"""Importing and exporting the list: hostile files, consent, merging, neutralised export."""
from __future__ import annotations

import csv
import io
import os

import pytest
import sqlalchemy as sa
from support.audience import make_subscriber

from newsletter.audience import csvfile, exporting, importing
from newsletter.models import Subscriber, SubscriberImport, SubscriberStatus

KEY = "test-secret-key-0123456789"


def run_import(session, data: bytes, consent: str = "") -> SubscriberImport:
    checked = importing.check(data)
    record = SubscriberImport(filename="t.csv", consent_source=consent)
    session.add(record)
    session.flush()
    importing.begin(record, checked)
    importing.run(session, KEY, record, checked, after_batch=lambda rows: session.commit())
    session.commit()
    return record


def people(session) -> dict[str, Subscriber]:
    return {s.email_key: s for s in session.scalars(sa.select(Subscriber))}


def test_bom_semicolons_and_quoted_commas(session):
    data = ("\ufeffEmail;Name;Status\n"
            "ada@example.com;\"Lovelace; Ada\";confirmed\n"
            "bob@example.com;Bob\n").encode("utf-8")
    record = run_import(session, data, consent="Signup form on oldsite.example")
    assert (record.created, record.rejected) == (2, 0)
    found = people(session)
    assert found["ada@example.com"].name == "Lovelace; Ada"
    commas = b'email,name\n"carol@example.com","Carol, the ""first"""\n'
    run_import(session, commas)
    assert people(session)["carol@example.com"].name == 'Carol, the "first"'


def test_consent_decides_confirmed_or_pending_and_is_recorded_per_row(session):
    data = (b"email,name,consent_source,consent_at\n"
            b"a@example.com,A,Webinar signup,2024-05-01T10:00:00Z\n"
            b"b@example.com,B,,\n")
    record = run_import(session, data, consent="Old list, double opt-in")
    found = people(session)
    assert found["a@example.com"].status == found["b@example.com"].status == SubscriberStatus.CONFIRMED
    assert found["a@example.com"].consent_source == "Webinar signup"
    assert found["a@example.com"].consent_at.isoformat() == "2024-05-01T10:00:00+00:00"
    assert found["b@example.com"].consent_source == "Old list, double opt-in"
    assert found["a@example.com"].import_id == record.id
    # Without a statement of consent, new people are pending with a confirmation due.
    run_import(session, b"email\nc@example.com\n")
    c = people(session)["c@example.com"]
    assert c.status == SubscriberStatus.PENDING and c.confirm_nonce and c.confirm_mail_requested_at is not None


@pytest.mark.parametrize("line, reason", [
    ("not-an-address,X", "not a valid email address"),
    ("a@example.com,\"Evil\nBcc: x\"", "line breaks"),
    ("b@example.com,B,resurrected", "status 'resurrected' is not one of"),
    ("c@example.com,C,,src,yesterday", "is not a date"),
    ("d@example.com,D,,src,2999-01-01", "in the future"),
    ("e@example.com,E,confirmed,src,2024-01-01,extra", "more fields than the header"),
    (",nobody", "Please enter your email address"),
])
def test_bad_rows_are_reported_with_line_and_reason_and_stored_not(session, line, reason):
    data = f"email,name,status,consent_source,consent_at\ngood@example.com,G\n{line}\nlast@example.com,L\n".encode()
    record = run_import(session, data)
    assert set(people(session)) == {"good@example.com", "last@example.com"}
    assert record.rejected == 1 and record.created == 2
    assert "line 3: " in record.report and reason in record.report


@pytest.mark.parametrize("data, reason", [
    (os.urandom(5 * 1024 * 1024).replace(b"\x00", b"\x01"), "not UTF-8"),
    (os.urandom(5 * 1024 * 1024) + b"\x00", "NUL bytes"),
    (b"x" * (5 * 1024 * 1024), "field larger than field limit"),
    (b"email,name\n" + b"a@example.com," + b"y" * 20_000 + b"\n", "a field longer than 10000"),
    (("garbage," * 40 + "\n") .encode() * 20000, "needs an `email` column"),
    (b"email\n\"unterminated@example.com\n" + b"a" * 100, "cannot be read"),
    (b"email,name\x00\n", "NUL bytes"),
    (b"", "empty"),
    ("email,Email\na@example.com,b@example.com\n".encode(), "appears twice"),
])
def test_unreadable_files_are_refused_whole(session, data, reason):
    with pytest.raises(csvfile.FileRejected) as info:
        importing.check(data)
    assert reason in str(info.value)
    assert people(session) == {}


def test_duplicates_within_the_file_keep_the_first(session):
    data = b"email,name\nann@example.com,First\nANN@example.com,Second\nben@example.com,Ben\n"
    record = run_import(session, data, consent="fair")
    assert people(session)["ann@example.com"].name == "First"
    assert (record.created, record.duplicates, record.rejected) == (2, 1, 0)
    assert "line 3: the same address as line 2, which is kept" in record.report


def test_reimport_merges_and_never_resurrects(session):
    make_subscriber(session, "gone@example.com", status=SubscriberStatus.UNSUBSCRIBED, name="")
    make_subscriber(session, "bounced@example.com", status=SubscriberStatus.BOUNCED)
    make_subscriber(session, "waiting@example.com", status=SubscriberStatus.PENDING)
    make_subscriber(session, "stays@example.com", name="")
    session.commit()
    data = (b"email,name,status\ngone@example.com,Gone,confirmed\nbounced@example.com,,\n"
            b"waiting@example.com,W,\nstays@example.com,Stays,unsubscribed\nnew@example.com,New,\n")
    first = run_import(session, data, consent="Old list")
    found = people(session)
    assert found["gone@example.com"].status == SubscriberStatus.UNSUBSCRIBED and found["gone@example.com"].name == "Gone"
    assert found["bounced@example.com"].status == SubscriberStatus.BOUNCED
    assert found["waiting@example.com"].status == SubscriberStatus.CONFIRMED  # the stated opt-in confirms them
    assert found["stays@example.com"].status == SubscriberStatus.UNSUBSCRIBED  # an import can stop mail
    assert (first.created, first.merged) == (1, 4)
    assert "line 2: already unsubscribed here; left so" in first.report
    again = run_import(session, data, consent="Old list")
    assert (again.created, again.merged) == (0, 5)
    assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 5


def test_export_neutralises_formulas_and_imports_again(session):
    make_subscriber(session, "=cmd|'/C calc'!A0@example.com", name="=HYPERLINK(\"http://evil\",\"x\")",
                    request_user_agent="+SUM(1,2)", consent_source="@attack")
    make_subscriber(session, "plain@example.com", name="-minus", status=SubscriberStatus.PENDING)
    session.commit()
    text = "".join(exporting.export_lines(session))
    rows = list(csv.DictReader(io.StringIO(text)))
    evil = rows[0]
    assert evil["email"] == "'=cmd|'/C calc'!A0@example.com"
    assert evil["name"].startswith("'=HYPERLINK") and evil["request_user_agent"] == "'+SUM(1,2)"
    assert evil["consent_source"] == "'@attack" and rows[1]["name"] == "'-minus"
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())
    assert [r["email"] for r in csv.DictReader(io.StringIO("".join(exporting.export_lines(session, "pending"))))] == [
        "plain@example.com"]


def test_an_export_imports_back_unchanged(session):
    make_subscriber(session, "one@example.com", name="One", consent_source="fair")
    make_subscriber(session, "two@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    session.commit()
    exported = "".join(exporting.export_lines(session)).encode()
    record = run_import(session, exported, consent="re-import")
    assert (record.created, record.merged, record.rejected) == (0, 2, 0)
    assert record.report.startswith("columns not imported: created_at")
