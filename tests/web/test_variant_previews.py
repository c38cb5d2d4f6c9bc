"""The issue page's category sets and the preview "as seen by a … reader": counts,
the variant's own content (the send's rendering), the empty sets, checks per
variant gating scheduling, escaping of category names, and bad links to sets."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from conftest import csrf_token
from support.audience import make_subscriber
from support.issues import break_variant, make_comparison, no_due_scan_hint

from newsletter.issues import content, drafts, scheduling
from newsletter.models import Comparison, IssueStatus
from newsletter.readers import variants

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def issue_id(db):
    """Three comparisons: Dev (newest, the lead), Image, and one in a hostile category."""
    now = datetime.now(timezone.utc)
    with db.session() as session:
        for hours, category in enumerate(("Developer Tools", "Image", HOSTILE)):
            comparison = make_comparison(session, f"C{hours} A", f"C{hours} B", published_at=now - timedelta(hours=hours + 1))
            for tool in comparison.tools:
                tool.category = category
        n = 0
        for key, count in (("", 2), ("Image", 3), ("Developer Tools\nImage", 1), (HOSTILE, 1), ("Video", 4)):
            for _ in range(count):
                n += 1
                make_subscriber(session, f"r{n}@example.com", categories=key, unsubscribe_token=f"t{n}")
        issue_id = drafts.refresh_draft(session).issue.id
        session.commit()
    return issue_id


def variant_rows(html: str) -> dict[str, str]:
    section = html.split('id="variants"', 1)[1].split("</section>", 1)[0]
    return dict(re.findall(r'data-variant="([^"]*)">(.*?)</li>', section, re.S))


def test_issue_page_lists_the_sets_with_their_readers(editor_client, issue_id):
    html = editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)
    rows = variant_rows(html)
    assert list(rows) == ["Video", "Image", "All categories",  # most readers first, then by name
                          "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;", "Developer Tools + Image"]
    assert 'data-readers="3"' in rows["Image"] and "1 comparison" in rows["Image"]
    assert f'href="/editor/issues/{issue_id}/preview?category=Image"' in rows["Image"]
    assert "?category=Developer+Tools&amp;category=Image" in rows["Developer Tools + Image"]
    assert "Nothing in this issue is in these categories: 4 readers get no mail." in rows["Video"]
    assert "<img src=x" not in html


def test_preview_as_seen_by_a_reader_of_a_set(editor_client, db, issue_id, settings):
    page = editor_client.get(f"/editor/issues/{issue_id}/preview?category=Image&category=Developer+Tools")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "as seen by a “Developer Tools + Image” reader" in html and "(1 reader)" in html
    assert 'id="preview-subject">C0 A vs C0 B + 1 more verdict<' in html  # its own lead and count
    text = html.split('id="text-part">', 1)[1].split("</pre>", 1)[0]
    assert "C0 A vs C0 B" in text and "C1 A vs C1 B" in text and "C2 A" not in text
    assert 'id="test-box"' not in html  # test sends are of the whole issue
    frame_src = re.search(r'id="desktop"[^>]* src="([^"]+)"', html).group(1).replace("&amp;", "&")
    frame = editor_client.get(frame_src).get_data(as_text=True)
    with db.session() as session:
        issue = content.load_issue(session, issue_id)
        sent = variants.render(issue, settings, "Developer Tools\nImage")
    # The frame is the send's rendering, with only the personal parts filled in.
    assert sent.html.split("<body", 1)[1][:2000].split("__")[0] in frame
    assert "C2 A" not in frame and "ed@example.com" in frame


def test_an_empty_set_says_how_many_get_nothing(editor_client, issue_id):
    for path in ("preview", "preview/email.html"):
        response = editor_client.get(f"/editor/issues/{issue_id}/{path}?category=Video")
        assert response.status_code == 200
        assert "Nothing in this issue is in these categories" in response.get_data(as_text=True)
    html = editor_client.get(f"/editor/issues/{issue_id}/preview?category=Video").get_data(as_text=True)
    assert "<strong>4</strong> readers get nothing" in html and 'id="desktop"' not in html


def test_hostile_category_names_are_text(editor_client, issue_id):
    response = editor_client.get(f"/editor/issues/{issue_id}/preview", query_string={"category": HOSTILE})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<img src=x" not in html
    assert "as seen by a “&lt;img src=x onerror=&#34;alert(1)&#34;&gt;” reader" in html


@pytest.mark.parametrize("query, status, says", [
    ({"category": "Nope"}, 400, "Unknown category: Nope."),
    ({"category": "<script>alert(1)</script>"}, 400, "Unknown category: &lt;script&gt;"),
    ({"category": ""}, 400, "Empty category name."),
    ({"category": "Developer Tools"}, 404, "No reader of this issue has the categories “Developer Tools”."),
])
def test_a_bad_set_in_the_link_is_a_clear_error(editor_client, issue_id, query, status, says):
    for path in ("preview", "preview/email.html"):
        response = editor_client.get(f"/editor/issues/{issue_id}/{path}", query_string=query)
        html = response.get_data(as_text=True)
        assert response.status_code == status and says in html, (path, html[-600:])
        assert "<script>alert" not in html


def schedule(client, issue_id, **form):
    token = csrf_token(client, f"/editor/issues/{issue_id}")
    return client.post(f"/editor/issues/{issue_id}/schedule", data={"csrf_token": token, **form},
                       follow_redirects=True).get_data(as_text=True)


def test_a_variant_that_fails_its_checks_blocks_scheduling(editor_client, db, issue_id, monkeypatch):
    """The whole issue passes; only the Image readers' version cannot be rendered."""
    no_due_scan_hint(monkeypatch)
    break_variant(monkeypatch, ["C1 A vs C1 B"], "issue.mjml: unexpected <tag> in the Image version")
    page = editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)
    assert 'id="variants-failing"' in page and 'id="override"' in page
    assert "The email cannot be rendered: issue.mjml: unexpected &lt;tag&gt; in the Image version" in \
        variant_rows(page)["Image"]
    html = schedule(editor_client, issue_id, when="at", date="2099-01-01", time="09:00")
    assert "Not scheduled" in html and "As seen by a “Image” reader: The email cannot be rendered" in html
    html = schedule(editor_client, issue_id, when="now")
    assert "As seen by a “Image” reader" in html  # the send-now confirmation lists it
    html = schedule(editor_client, issue_id, when="at", date="2099-01-01", time="09:00", override="1")
    assert "Scheduled." in html


def test_after_sending_started_the_frozen_versions_are_shown(editor_client, db, issue_id, settings):
    from newsletter.delivery import categories, ledger

    now = datetime.now(timezone.utc)
    with db.session() as session:
        issue = content.load_issue(session, issue_id)
        scheduling.schedule(session, issue, now, settings, now=now, override=True)
        assert scheduling.start_due(session, settings, now=now) == [issue_id]
        ledger.start(session, issue_id)
        categories.snapshot(session, settings, issue_id)
        for comparison in session.query(Comparison):
            comparison.title = "Edited later"
        session.commit()
        assert content.load_issue(session, issue_id).status == IssueStatus.SENDING
    rows = variant_rows(editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True))
    assert set(rows) == {"All categories", "Image", "Developer Tools + Image", "Video",
                         "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"}
    assert 'data-readers="3"' in rows["Image"] and 'data-readers="4"' in rows["Video"]  # from the delivery rows
    html = editor_client.get(f"/editor/issues/{issue_id}/preview?category=Image").get_data(as_text=True)
    assert 'id="preview-subject">C1 A vs C1 B<' in html and "Edited later" not in html
