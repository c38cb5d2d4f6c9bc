"""An editor finds a subscriber in Chromium, reads their page and erases them
through the confirmation page; then imports a small file and watches it finish."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from support.audience import STATUSES, bulk_subscribers, make_subscriber
from support.editors import PASSWORD, make_editor

from newsletter.models import Subscriber

pytestmark = pytest.mark.browser


@pytest.fixture
def audience(live_server):
    db = live_server.app.extensions["db"]
    make_editor(db)
    with db.session() as session:
        bulk_subscribers(session, 120)
        make_subscriber(session, "grace.hopper@example.com", name="Grace <i>Hopper</i>")
        session.commit()
    return db


def log_in(page, live_server):
    page.goto(f"{live_server.url}/editor/subscribers")
    page.fill("#email", "ed@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_search_open_and_erase_with_confirmation(live_server, audience, page, screenshot):
    log_in(page, live_server)
    expect(page.locator("h1")).to_have_text("Subscribers")
    expect(page.locator("#subscribers tr")).to_have_count(51)
    screenshot(page, "subscribers")
    page.click("#next-page")
    expect(page.locator("#subscribers tr")).to_have_count(51)
    page.click("#status-filter [data-status=confirmed]")
    confirmed = sum(1 for i in range(120) if STATUSES[i % len(STATUSES)] == "confirmed") + 1  # and Grace
    expect(page.locator("#status-filter a.current")).to_contain_text(f"confirmed ({confirmed})")

    page.goto(f"{live_server.url}/editor/subscribers")
    page.fill("#q", "GRACE")
    page.click("#search")
    expect(page.locator("#subscribers tr")).to_have_count(2)
    page.click("text=grace.hopper@example.com")
    expect(page.locator("#address")).to_contain_text("grace.hopper@example.com")
    expect(page.locator("main")).to_contain_text("Name: Grace <i>Hopper</i>")  # shown as text
    expect(page.locator("#consent")).to_contain_text("203.0.113.9")
    screenshot(page, "subscriber")

    page.click("#action-erase")
    expect(page.locator("h1")).to_have_text("Erase: grace.hopper@example.com?")
    screenshot(page, "erase-confirmation")
    page.click("text=Cancel")
    expect(page.locator("#address")).to_be_visible()
    page.click("#action-erase")
    page.click("#confirm-action")
    expect(page.locator(".flash.ok")).to_contain_text("is erased")
    screenshot(page, "erased")
    with audience.session() as session:
        assert session.query(Subscriber).filter_by(email_key="grace.hopper@example.com").count() == 0


def test_upload_shows_progress_until_done(live_server, audience, page, screenshot, tmp_path):
    log_in(page, live_server)
    path = tmp_path / "list.csv"
    path.write_text("email;name\n" + "".join(f"imported{i}@example.com;I {i}\n" for i in range(3000)) + "broken;x\n")
    page.click("#import")
    page.set_input_files("#file", str(path))
    page.check("#opted_in")
    page.fill("#consent_source", "Signup form on oldsite.example")
    screenshot(page, "import-form")
    page.click("#upload")
    expect(page.locator("#import-status")).to_have_text("done", timeout=30000)
    expect(page.locator("#import-counts")).to_contain_text("created 3000")
    expect(page.locator("#import-report")).to_contain_text("line 3002: That is not a valid email address")
    screenshot(page, "import-done")
