"""`newsletter subscribers import/export` end to end: real files, the real database."""
from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support.audience import make_subscriber

from newsletter.cli import main
from newsletter.models import Subscriber, SubscriberImport, SubscriberStatus


@pytest.fixture
def cli(env):
    def run(*args):
        return CliRunner().invoke(main, ["subscribers", *map(str, args)], env=env, catch_exceptions=False)
    return run


def test_import_with_consent_reports_bad_lines_and_exits_1(cli, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"\xef\xbb\xbfemail;name\nada@example.com;Ada\nnope;X\nbob@example.com;\"Bob; Jr\"\n")
    result = cli("import", path, "--consent", "Signup form on oldsite.example")
    assert result.exit_code == 1
    assert f"{path}: line 3: That is not a valid email address" in result.stderr
    assert "created 2, merged 0, duplicates 0, rejected 1" in result.stdout
    statuses = dict(session.execute(select(Subscriber.email_key, Subscriber.status)).all())
    assert statuses == {"ada@example.com": "confirmed", "bob@example.com": "confirmed"}
    record = session.scalar(select(SubscriberImport))
    assert record.imported_by == "command line" and record.consent_source == "Signup form on oldsite.example"
    assert record.status == "done" and record.data is None


def test_import_without_consent_asks_each_to_confirm(cli, session, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("email\nada@example.com\n")
    result = cli("import", path)
    assert result.exit_code == 0, result.output
    assert "new addresses get a confirmation mail" in result.stdout
    assert session.scalar(select(Subscriber.status)) == SubscriberStatus.PENDING


def test_an_unreadable_file_imports_nothing(cli, session, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\xff\xfe\x00garbage" * 1000)
    result = cli("import", path)
    assert result.exit_code == 1 and "nothing was imported" in result.stderr
    assert session.scalars(select(Subscriber)).all() == [] and session.scalars(select(SubscriberImport)).all() == []


def test_export_by_status_to_a_file_and_stdout(cli, session, tmp_path):
    make_subscriber(session, "a@example.com", name="=1+1")
    make_subscriber(session, "b@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    session.commit()
    out = tmp_path / "out.csv"
    assert cli("export", "--status", "confirmed", "-o", out).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [("a@example.com", "'=1+1", "confirmed")]
    everyone = cli("export")
    assert [r["email"] for r in csv.DictReader(io.StringIO(everyone.stdout))] == ["a@example.com", "b@example.com"]
    bad = cli("export", "--status", "gone")
    assert bad.exit_code == 2 and "there is no status 'gone'" in bad.output
