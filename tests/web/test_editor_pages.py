"""The editor's pages: edit the draft, preview, checks, test send, schedule and cancel."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import csrf_token
from sqlalchemy import func, select
from support.issues import make_comparison

from newsletter.issues import content, drafts, lifecycle, scheduling
from newsletter.mail.rendering import RenderError
from newsletter.models import Delivery, Issue, IssueStatus, Subscriber


@pytest.fixture
def draft(db):
    now = datetime.now(timezone.utc)
    with db.session() as session:
        make_comparison(session, "Old A", "Old B", published_at=now - timedelta(days=3))
        make_comparison(session, "New A", "New B", published_at=now - timedelta(days=1))
        make_comparison(session, "Mid A", "Mid B", published_at=now - timedelta(days=2))
        issue_id = drafts.refresh_draft(session).issue.id
        session.commit()
    return issue_id


@pytest.fixture
def deliverable(monkeypatch):
    """"Send now" hands the due-scan a hint; here nothing runs it."""
    from workers import issues as issue_tasks

    monkeypatch.setattr(issue_tasks.start_due_issues, "delay", lambda: None)


def load(db, issue_id) -> Issue:
    with db.session() as session:
        issue = content.load_issue(session, issue_id)
        [item.comparison.title for item in issue.items]
        return issue


def titles(issue) -> list[str]:
    return [item.comparison.title for item in content.included_items(issue)]


def test_dashboard_opens_the_draft(editor_client, draft):
    html = editor_client.get("/editor/").get_data(as_text=True)
    assert f"/editor/issues/{draft}" in html and "3 comparisons" in html


def test_dashboard_only_reads_and_drafting_now_is_a_post(editor_client, db):
    with db.session() as session:
        make_comparison(session, "Fresh A", "Fresh B", published_at=datetime.now(timezone.utc) - timedelta(hours=1))
        session.commit()
    html = editor_client.get("/editor/").get_data(as_text=True)
    assert "No draft yet" in html and 'id="draft-now"' in html
    with db.session() as session:
        assert drafts.upcoming_issue(session) is None, "a GET must not create the draft"
    response = editor_client.post("/editor/draft", data={"csrf_token": csrf_token(editor_client, "/editor/")})
    with db.session() as session:
        upcoming = drafts.upcoming_issue(session)
        assert upcoming is not None and response.headers["Location"].endswith(f"/editor/issues/{upcoming.id}")
        assert [item.comparison.title for item in upcoming.items] == ["Fresh A vs Fresh B"]


def test_reorder_drop_retitle_and_feature(editor_client, db, draft):
    issue = load(db, draft)
    assert titles(issue) == ["New A vs New B", "Mid A vs Mid B", "Old A vs Old B"]
    new, mid, old = (item.comparison_id for item in issue.items)
    token = csrf_token(editor_client, f"/editor/issues/{draft}")
    response = editor_client.post(f"/editor/issues/{draft}", data={
        "csrf_token": token, "subject": "This week's verdicts", "preheader": "", "intro": "Hi", "intro_format": "text",
        f"keep-{new}": "1", f"order-{new}": "2", f"keep-{old}": "1", f"order-{old}": "1", f"order-{mid}": "3",
        f"featured_a-{old}": "buyer", f"featured_b-{old}": "skeptic",
    })
    assert response.status_code == 302
    issue = load(db, draft)
    assert titles(issue) == ["Old A vs Old B", "New A vs New B"]
    assert issue.subject == "This week's verdicts"
    assert (issue.items[0].featured_reviewer_a, issue.items[0].featured_reviewer_b) == ("buyer", "skeptic")
    page = editor_client.get(f"/editor/issues/{draft}").get_data(as_text=True)
    assert "Mid A vs Mid B" in page  # offered to add back
    token = csrf_token(editor_client, f"/editor/issues/{draft}")
    editor_client.post(f"/editor/issues/{draft}/add", data={"csrf_token": token, "comparison_id": mid})
    assert titles(load(db, draft))[-1] == "Mid A vs Mid B"


def test_a_comparison_that_joined_after_the_page_loaded_is_kept(editor_client, db, draft):
    issue = load(db, draft)
    form = {f"order-{item.comparison_id}": str(n) for n, item in enumerate(issue.items, 1)}
    form.update({f"keep-{item.comparison_id}": "1" for item in issue.items})
    with db.session() as session:
        make_comparison(session, "Fresh A", "Fresh B")
        drafts.refresh_draft(session)
        session.commit()
    token = csrf_token(editor_client, "/editor/schedule")
    editor_client.post(f"/editor/issues/{draft}", data={"csrf_token": token, "subject": "", "intro_format": "text",
                                                        **form})
    assert titles(load(db, draft))[0] == "Fresh A vs Fresh B"
    assert len(titles(load(db, draft))) == 4


def test_preview_shows_the_email_in_a_sandboxed_frame(editor_client, draft):
    page = editor_client.get(f"/editor/issues/{draft}/preview")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="desktop"' in html and 'id="mobile"' in html and 'sandbox="' in html
    assert "New A vs New B + 2 more verdicts" in html  # subject
    assert "Which one should you ship with, New A or New B?" in html  # preheader
    assert "Read the full comparison: http://newsletter.test/r/" in html  # the plain-text part, counted links
    text_part = html.split('id="text-part">', 1)[1].split("</pre>", 1)[0]
    assert "__UNSUBSCRIBE_URL__" not in text_part and "__RECIPIENT_EMAIL__" not in text_part
    assert "ed@example.com" in text_part and "/preview-link/unsubscribe" in text_part
    frame = editor_client.get(f"/editor/issues/{draft}/preview/email.html")
    assert frame.status_code == 200
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = frame.get_data(as_text=True)
    assert "ed@example.com" in body and "__UNSUBSCRIBE_URL__" not in body


def test_preview_and_frame_need_login(client, draft):
    assert client.get(f"/editor/issues/{draft}/preview").status_code == 302
    assert client.get(f"/editor/issues/{draft}/preview/email.html").status_code == 302


def test_a_render_error_is_a_message_not_a_500(editor_client, draft, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RenderError("issue.mjml: MJML could not be rendered: unexpected tag")

    monkeypatch.setattr("newsletter.issues.rendering.render_issue", broken)
    for path in (f"/editor/issues/{draft}/preview", f"/editor/issues/{draft}",
                 f"/editor/issues/{draft}/preview/email.html"):
        response = editor_client.get(path)
        assert response.status_code == 200, path
        assert "unexpected tag" in response.get_data(as_text=True)
    token = csrf_token(editor_client, f"/editor/issues/{draft}/preview")
    response = editor_client.post(f"/editor/issues/{draft}/test", data={"csrf_token": token, "addresses": "a@example.com"},
                                  follow_redirects=True)
    assert response.status_code == 200 and "No test sent" in response.get_data(as_text=True)


def test_test_send_arrives_marked_and_touches_no_subscriber(editor_client, draft, smtp, db, celery_worker):
    token = csrf_token(editor_client, f"/editor/issues/{draft}/preview")
    response = editor_client.post(f"/editor/issues/{draft}/test", data={
        "csrf_token": token, "addresses": "one@example.com, two@example.org"}, follow_redirects=True)
    assert "Test on its way to one@example.com, two@example.org" in response.get_data(as_text=True)
    messages = smtp.wait_for(2)
    assert sorted(m.envelope_to[0] for m in messages) == ["one@example.com", "two@example.org"]
    for message in messages:
        assert message.subject.startswith("[TEST] New A vs New B")
        assert "New A vs New B" in message.text and "__RECIPIENT_EMAIL__" not in message.html
        # No dead links: both personal links lead to a page that says what they do for readers.
        for part in (message.text, message.html):
            assert "http://newsletter.test/preview-link/unsubscribe" in part
            assert "http://newsletter.test/preview-link/web-version" in part
            assert "/archive/" not in part and "/subscribe\"" not in part
    for which in ("unsubscribe", "web-version"):
        page = editor_client.get(f"/preview-link/{which}")
        assert page.status_code == 200 and "inactive in a test" in page.get_data(as_text=True)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert session.get(Issue, draft).status == IssueStatus.DRAFT


@pytest.mark.parametrize("addresses, message", [
    ("", "at least one"), ("a@example.com,b@example.com,c@example.com,d@example.com,e@example.com,f@example.com",
                           "at most 5"), ("not-an-address", "not a valid address"),
    ("a@example.com\r\nBcc: victim@example.com", "not a valid address"),
])
def test_bad_test_addresses_send_nothing(editor_client, draft, smtp, addresses, message):
    token = csrf_token(editor_client, f"/editor/issues/{draft}/preview")
    response = editor_client.post(f"/editor/issues/{draft}/test", data={"csrf_token": token, "addresses": addresses},
                                  follow_redirects=True)
    page = response.get_data(as_text=True)
    assert message in page
    assert ".." not in page.split("No test sent", 1)[1].split("<", 1)[0]  # "@-sign.." once
    assert smtp.wait_for(1, timeout=0.5) == []


def schedule(client, issue_id, **form):
    token = csrf_token(client, f"/editor/issues/{issue_id}")
    return client.post(f"/editor/issues/{issue_id}/schedule", data={"csrf_token": token, **form},
                       follow_redirects=True).get_data(as_text=True)


def test_schedule_in_the_editors_zone_then_cancel_and_reschedule(editor_client, db, draft, deliverable):
    token = csrf_token(editor_client, "/editor/schedule")
    editor_client.post("/editor/schedule", data={"csrf_token": token, "weekday": "1", "send_time": "09:00",
                                                 "timezone": "Europe/Berlin"})
    html = schedule(editor_client, draft, when="at", date="2099-07-07", time="10:30")
    assert "Scheduled." in html and "Tuesday 7 July 2099, 10:30" in html and "Europe/Berlin" in html
    assert load(db, draft).scheduled_at == datetime(2099, 7, 7, 8, 30, tzinfo=timezone.utc)
    token = csrf_token(editor_client, f"/editor/issues/{draft}")
    html = editor_client.post(f"/editor/issues/{draft}/cancel", data={"csrf_token": token},
                              follow_redirects=True).get_data(as_text=True)
    assert "draft again" in html and load(db, draft).status == IssueStatus.DRAFT
    html = schedule(editor_client, draft, when="at", date="2099-07-08", time="07:00")
    assert load(db, draft).scheduled_at == datetime(2099, 7, 8, 5, 0, tzinfo=timezone.utc)
    assert load(db, draft).status == IssueStatus.SCHEDULED


def test_send_now_says_to_how_many_and_asks_once_more(editor_client, db, draft, deliverable):
    with db.session() as session:
        for n, status in enumerate(["confirmed", "confirmed", "confirmed", "pending", "unsubscribed"]):
            session.add(Subscriber(email=f"r{n}@example.com", email_key=f"r{n}@example.com", status=status,
                                   unsubscribe_token=f"t{n}"))
        session.commit()
    page = editor_client.get(f"/editor/issues/{draft}").get_data(as_text=True)
    assert re.search(r'id="audience-count">To <strong>3</strong> confirmed subscribers', page)
    html = schedule(editor_client, draft, when="now")
    assert f"Send issue #{load(db, draft).number} to 3 confirmed subscribers?" in html
    assert load(db, draft).status == IssueStatus.DRAFT  # asking changed nothing
    html = schedule(editor_client, draft, when="now", confirmed="1")
    assert "Sending starts within a minute" in html
    issue = load(db, draft)
    assert issue.status == IssueStatus.SCHEDULED
    assert abs(issue.scheduled_at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_failing_checks_block_scheduling_until_overridden(editor_client, db, deliverable):
    with db.session() as session:
        make_comparison(session, "Bad", "Link", url="ftp://verdicts.test/x")
        issue_id = drafts.refresh_draft(session).issue.id
        session.commit()
    page = editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)
    assert "about:invalid" in page and 'id="override"' in page
    html = schedule(editor_client, issue_id, when="at", date="2099-01-01", time="09:00")
    assert "Not scheduled" in html and load(db, issue_id).status == IssueStatus.DRAFT
    html = schedule(editor_client, issue_id, when="at", date="2099-01-01", time="09:00", override="1")
    issue = load(db, issue_id)
    assert issue.status == IssueStatus.SCHEDULED and issue.checks_overridden


def test_bad_schedule_input_is_a_message(editor_client, db, draft, deliverable):
    assert "give a date and a time" in schedule(editor_client, draft, when="at", date="", time="")
    assert "has passed" in schedule(editor_client, draft, when="at", date="2001-01-01", time="09:00")
    token = csrf_token(editor_client, "/editor/schedule")
    html = editor_client.post("/editor/schedule", data={"csrf_token": token, "weekday": "1", "send_time": "09:00",
                                                        "timezone": "Nowhere/Land"},
                              follow_redirects=True).get_data(as_text=True)
    assert "unknown time zone" in html


def test_skipped_issue_shows_why(editor_client, db):
    with db.session() as session:
        issue = drafts.refresh_draft(session).issue
        lifecycle.move(session, issue.id, "skip", finished_at=datetime.now(timezone.utc),
                       skip_reason="No new comparisons were published for this week's slot.")
        session.commit()
        issue_id = issue.id
    assert "No new comparisons were published" in editor_client.get("/editor/").get_data(as_text=True)
    assert "Skipped:" in editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)


def test_once_sending_started_the_preview_shows_the_frozen_content(editor_client, db, draft, settings):
    from newsletter.issues import content
    from newsletter.models import Comparison

    now = datetime.now(timezone.utc)
    with db.session() as session:
        issue = content.load_issue(session, draft)
        scheduling.schedule(session, issue, now, settings, now=now)
        assert scheduling.start_due(session, settings, now=now) == [draft]
        for comparison in session.query(Comparison):
            comparison.title = "Edited later"
        session.commit()
    html = editor_client.get(f"/editor/issues/{draft}/preview").get_data(as_text=True)
    assert "New A vs New B" in html and "Edited later" not in html
    text_part = html.split('id="text-part">', 1)[1].split("</pre>", 1)[0]  # "the email as sent"
    assert "__UNSUBSCRIBE_URL__" not in text_part and "ed@example.com" in text_part
    page = editor_client.get(f"/editor/issues/{draft}").get_data(as_text=True)
    assert "the content is frozen" in page and 'id="schedule-form"' not in page


def test_hostile_comparison_text_is_shown_literally_on_editor_pages(editor_client, db):
    hostile = '<script>alert("x")</script>'
    with db.session() as session:
        make_comparison(session, hostile, "B", slug="hostile", standfirst=hostile)
        issue_id = drafts.refresh_draft(session).issue.id
        session.commit()
    for path in ("/editor/", f"/editor/issues/{issue_id}", f"/editor/issues/{issue_id}/preview",
                 f"/editor/issues/{issue_id}/preview/email.html"):
        html = editor_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html, path
    assert "&lt;script&gt;alert" in editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/editor/issues/999999", "/editor/no-such-page"])
def test_editor_404_keeps_the_editor_navigation(editor_client, path):
    response = editor_client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and 'id="not-found"' in html
    assert "Log out" in html and 'href="/editor/"' in html
