"""An editor's week in Chromium: log in, shape the draft, preview, test, schedule,
cancel, reschedule. Screenshots of each page go to test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from support.editors import PASSWORD, make_editor
from support.issues import make_comparison

from newsletter.issues import drafts

pytestmark = pytest.mark.browser


@pytest.fixture
def newsroom(live_server):
    """An editor and three new comparisons, before the scheduler drafted anything."""
    db = live_server.app.extensions["db"]
    make_editor(db)
    now = datetime.now(timezone.utc)
    with db.session() as session:
        make_comparison(session, "Old Coder", "Old Pilot", published_at=now - timedelta(days=3))
        make_comparison(session, "Mid Coder", "Mid Pilot", published_at=now - timedelta(days=2))
        make_comparison(session, "New Coder", "New Pilot", published_at=now - timedelta(days=1))
        session.commit()
    return db


def item_titles(page) -> list[str]:
    return page.locator("#items .item-title").all_inner_texts()


def test_editor_assembles_previews_tests_and_schedules(live_server, newsroom, page, screenshot, smtp):
    page.goto(f"{live_server.url}/editor/")
    expect(page.locator("h1")).to_have_text("Editor login")
    screenshot(page, "login")
    page.fill("#email", "ed@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")

    expect(page.locator("#upcoming")).to_contain_text("No draft yet")
    screenshot(page, "dashboard-before-the-draft")
    page.click("#draft-now")
    assert item_titles(page) == ["New Coder vs New Pilot", "Mid Coder vs Mid Pilot", "Old Coder vs Old Pilot"]
    page.goto(f"{live_server.url}/editor/")
    expect(page.locator("#upcoming")).to_contain_text("3 comparisons")
    screenshot(page, "dashboard")
    page.click("#open-draft")
    assert item_titles(page) == ["New Coder vs New Pilot", "Mid Coder vs Mid Pilot", "Old Coder vs Old Pilot"]
    screenshot(page, "draft")

    # Old first, drop Mid, a subject of our own.
    page.get_by_label("Order of Old Coder vs Old Pilot").fill("0")
    page.get_by_label("Keep Mid Coder vs Mid Pilot").uncheck()
    page.fill("#subject", "Two verdicts & a surprise")
    page.get_by_label("Reviewer quoted for Old Pilot").select_option("skeptic")
    page.click("#save")
    expect(page.locator(".flash.ok")).to_have_text("Saved.")
    assert item_titles(page) == ["Old Coder vs Old Pilot", "New Coder vs New Pilot"]
    expect(page.locator("#subject")).to_have_value("Two verdicts & a surprise")
    screenshot(page, "draft-edited")

    page.click("#open-preview")
    expect(page.locator("#preview-subject")).to_have_text("Two verdicts & a surprise")
    for frame_id, width in (("desktop", 640), ("mobile", 375)):
        frame = page.locator(f"#{frame_id}")
        assert round(frame.bounding_box()["width"]) == width
        inside = page.frame_locator(f"#{frame_id}")
        expect(inside.get_by_text("Old Coder vs Old Pilot")).to_be_visible()
        expect(inside.get_by_text("The skeptic on Old Pilot: ship it.")).to_be_visible()
        assert inside.get_by_text("Mid Coder vs Mid Pilot").count() == 0
    expect(page.locator("#text-part")).to_contain_text("Read the full comparison:")
    expect(page.locator("#checks li.bad")).to_have_count(0)
    screenshot(page, "preview")
    for frame_id in ("desktop", "mobile"):  # each width on its own, as a reader sees it
        page.locator(f"#{frame_id}").screenshot(path=str(screenshot(page, f"preview-{frame_id}")))

    page.fill("#addresses", "first.reader@example.com, second.reader@example.org")
    page.click("#send-test")
    expect(page.locator(".flash.ok")).to_contain_text("Test on its way to first.reader@example.com")
    messages = smtp.wait_for(2)
    assert sorted(m.envelope_to[0] for m in messages) == ["first.reader@example.com", "second.reader@example.org"]
    assert all(m.subject == "[TEST] Two verdicts & a surprise" for m in messages)
    assert "Old Coder vs Old Pilot" in messages[0].text
    screenshot(page, "test-sent")

    page.goto(f"{live_server.url}/editor/")
    page.click("#open-draft")
    page.fill("#date", "2099-06-02")
    page.fill("#time", "09:15")
    page.click("#schedule")
    expect(page.locator("#issue-status")).to_have_text("scheduled")
    expect(page.locator("#scheduled-for")).to_contain_text("Tuesday 2 June 2099, 09:15")
    screenshot(page, "scheduled")

    page.click("#cancel")
    expect(page.locator("#issue-status")).to_have_text("draft")
    screenshot(page, "cancelled")

    page.fill("#date", "2099-06-03")
    page.fill("#time", "08:00")
    page.click("#schedule")
    expect(page.locator("#issue-status")).to_have_text("scheduled")
    expect(page.locator("#scheduled-for")).to_contain_text("Wednesday 3 June 2099, 08:00")
    screenshot(page, "rescheduled")
    with newsroom.session() as session:
        issue = drafts.upcoming_issue(session)
        assert issue.scheduled_at == datetime(2099, 6, 3, 8, 0, tzinfo=timezone.utc)

    # On a phone: every editor page fits 375 px, with the navigation inside the header.
    page.set_viewport_size({"width": 375, "height": 740})
    issue_path = page.url.split(live_server.url, 1)[1]
    for name, path in (("dashboard", "/editor/"), ("issue", issue_path), ("preview", issue_path + "/preview"),
                       ("weekly-slot", "/editor/schedule"), ("not-found", "/editor/no-such-page")):
        page.goto(live_server.url + path)
        screenshot(page, f"phone-{name}")
        assert fits_the_screen(page), f"{name} scrolls sideways at 375 px"
    page.click("text=Log out")
    page.goto(f"{live_server.url}/editor/login")
    screenshot(page, "phone-login")
    assert fits_the_screen(page), "login scrolls sideways at 375 px"


def fits_the_screen(page) -> bool:
    """No sideways scroll, and the header holds its navigation."""
    return page.evaluate("""() => {
        const root = document.documentElement;
        const header = document.querySelector('header.site').getBoundingClientRect();
        const links = [...document.querySelectorAll('header.site nav a, header.site nav button')];
        const inside = links.every(a => { const r = a.getBoundingClientRect();
            return r.top >= header.top && r.bottom <= header.bottom && r.right <= root.clientWidth; });
        return root.scrollWidth <= root.clientWidth && inside;
    }""")
