"""The editors' welcome page in Chromium: change the settings, see the preview follow.
Screenshots go to test-artifacts/screenshots/."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from support.editors import PASSWORD, make_editor
from support.issues import make_comparison

pytestmark = pytest.mark.browser


def test_editor_sets_up_the_welcome_and_previews_it(live_server, page, screenshot):
    db = live_server.app.extensions["db"]
    make_editor(db)
    with db.session() as session:
        make_comparison(session, "Pen Coder", "Ink Pilot", published_at=datetime.now(timezone.utc) - timedelta(days=3))
        session.commit()
    page.goto(f"{live_server.url}/editor/login")
    page.fill("#email", "ed@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Welcome mail")
    expect(page.locator("h1")).to_have_text("Welcome mail")
    expect(page.locator("#preview-subject")).to_have_text("Welcome to Weekly AI Tool Verdicts")
    screenshot(page, "welcome-defaults")

    page.fill("#subject", "You're in <for real>")
    page.fill("#intro", "Hello & welcome.")
    page.fill("#catchup_days", "2")  # the only comparison is three days old: nothing to carry
    page.click("#welcome-form button[type=submit]")
    expect(page.locator(".flash.ok")).to_have_text("The welcome mail is saved.")
    expect(page.locator("#preview-empty")).to_contain_text("last 2 days")
    expect(page.locator("#subject")).to_have_value("You're in <for real>")

    page.fill("#catchup_days", "7")
    page.check("#counts_as_sent")
    page.click("#welcome-form button[type=submit]")
    expect(page.locator("#preview-subject")).to_have_text("You're in <for real>")
    frame = page.frame_locator("iframe.mail")
    expect(frame.locator("body")).to_contain_text("Pen Coder vs Ink Pilot")
    expect(frame.locator("body")).to_contain_text("Hello & welcome.")
    expect(page.locator("#counts_as_sent")).to_be_checked()
    screenshot(page, "welcome-preview")

    page.fill("#catchup_days", "0")  # the browser refuses it before posting (the server too: tests/web)
    page.click("#welcome-form button[type=submit]")
    assert page.locator("#catchup_days").evaluate("field => field.validity.rangeUnderflow")
    page.reload()
    expect(page.locator("#catchup_days")).to_have_value("7")
