"""Importing from the editor area: the upload, the worker, the progress; and the download."""
from __future__ import annotations

import csv
import io
import time

import pytest
from conftest import csrf_token
from sqlalchemy import select
from support.audience import make_subscriber

from newsletter.models import Subscriber, SubscriberImport, SubscriberStatus


def upload(client, data: bytes, *, opted_in: bool = False, source: str = "", token: str | None = "page"):
    form = {"file": (io.BytesIO(data), "list.csv"), "consent_source": source}
    if opted_in:
        form["opted_in"] = "yes"
    if token == "page":
        form["csrf_token"] = csrf_token(client, "/editor/subscribers/import")
    return client.post("/editor/subscribers/import", data=form, content_type="multipart/form-data")


def wait_finished(client, path: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress = client.get(path + ".json").get_json()
        if progress["finished"]:
            return progress
        time.sleep(0.2)
    raise AssertionError(f"the import did not finish: {progress}")


def test_upload_runs_in_a_worker_and_reports_progress(editor_client, db, celery_worker):
    rows = "".join(f"reader{i}@example.com;Reader {i}\n" for i in range(5000))
    data = ("\ufeffemail;name\n" + rows + "bad-address;X\nreader7@example.com;Again\n").encode()
    response = upload(editor_client, data, opted_in=True, source="Signup form on oldsite.example")
    assert response.status_code == 302
    path = response.headers["Location"]
    page = editor_client.get(path).get_data(as_text=True)
    assert "Stated opt-in: “Signup form on oldsite.example”" in page and 'id="import-bar"' in page
    progress = wait_finished(editor_client, path)
    assert progress["status"] == "done" and progress["total_rows"] == 5002 and progress["done_rows"] == 5002
    assert (progress["created"], progress["duplicates"], progress["rejected"]) == (5000, 1, 1)
    assert "line 5002: That is not a valid email address" in "\n".join(progress["report"])
    assert "line 5003: the same address as line 9, which is kept" in progress["report"]
    with db.session() as session:
        assert session.scalar(select(SubscriberImport.data)) is None, "the uploaded file is not kept"
        statuses = set(session.scalars(select(Subscriber.status)))
        assert statuses == {SubscriberStatus.CONFIRMED}
        assert session.scalar(select(Subscriber.consent_source).limit(1)) == "Signup form on oldsite.example"


def test_an_unreadable_upload_fails_the_import_and_stores_no_one(editor_client, db, celery_worker):
    response = upload(editor_client, b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 50)
    progress = wait_finished(editor_client, response.headers["Location"])
    assert progress["status"] == "failed" and "not UTF-8" in progress["report"][0]
    with db.session() as session:
        assert session.scalars(select(Subscriber)).all() == []


@pytest.mark.parametrize("kwargs, message", [
    ({"opted_in": True}, "Say where and how these people opted in"),
    ({"source": "a fair"}, "Tick the box"),
    ({"opted_in": True, "source": "line\nbreak"}, "one line of at most"),
])
def test_the_form_refuses_unclear_consent(editor_client, db, kwargs, message):
    response = upload(editor_client, b"email\na@example.com\n", **kwargs)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalars(select(SubscriberImport)).all() == []


def test_upload_needs_csrf_and_a_file(editor_client):
    assert upload(editor_client, b"email\na@example.com\n", token=None).status_code == 400
    response = editor_client.post("/editor/subscribers/import", data={
        "csrf_token": csrf_token(editor_client, "/editor/subscribers/import")})
    assert response.status_code == 400 and "Choose a CSV file" in response.get_data(as_text=True)


def test_download_is_streamed_neutralised_and_filtered(editor_client, db):
    with db.session() as session:
        make_subscriber(session, "a@example.com", name="@SUM(A1)")
        make_subscriber(session, "b@example.com", status=SubscriberStatus.PENDING)
        session.commit()
    response = editor_client.get("/editor/subscribers/export.csv?status=confirmed")
    assert response.status_code == 200 and response.is_streamed and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["email"], r["name"]) for r in rows] == [("a@example.com", "'@SUM(A1)")]
    assert editor_client.get("/editor/subscribers/export.csv?status=nope").status_code == 400
