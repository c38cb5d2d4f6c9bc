"""The relay panel in Chromium: the notice for a disabled relay, shares that follow
the live JSON while the issue sends, and the re-enable button."""
from __future__ import annotations

from collections import Counter

import pytest
from playwright.sync_api import expect
from support.delivery import make_sending_issue, make_subscribers
from support.editors import PASSWORD, make_editor

from newsletter.delivery import ledger
from newsletter.mail.transport.relay_state import relay_key, store_for

pytestmark = pytest.mark.browser


@pytest.fixture
def live_overrides():
    # Never connected to: the issue is not dispatched, the page only reads the relays' state.
    return {"SMTP_RELAYS": "smtp://news:relay-secret@relay-a.test:587?name=relay-a,smtp://relay-b.test?name=relay-b"}


def test_editor_sees_a_disabled_relay_live_shares_and_re_enables_it(live_server, page, screenshot):
    app = live_server.app
    db = app.extensions["db"]
    make_editor(db)
    with db.session() as session:
        make_subscribers(session, 4)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        session.commit()
    settings = app.extensions["settings"]
    store = store_for(settings)
    a, b = (relay_key(settings, relay) for relay in settings.relays)
    store.disable(a, 1_800_000_000.0, "relay-a.test:587: 535 5.7.8 Authentication credentials invalid")
    store.count(Counter({b: 3}), f"issue-{issue_id}")

    page.goto(f"{live_server.url}/editor/login")
    page.fill("#email", "ed@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/editor/issues/{issue_id}/delivery")
    notice = page.locator('[data-relay-notice="0"]')
    expect(notice).to_contain_text("Relay relay-a is disabled")
    expect(notice).to_contain_text("535 5.7.8")
    expect(page.locator('[data-relay-share="1"]')).to_have_text("3 (100.0 %)")
    screenshot(page, "relay-disabled")

    store.count(Counter({b: 1}), f"issue-{issue_id}")  # the workers go on through relay-b
    expect(page.locator('[data-relay-share="1"]')).to_have_text("4 (100.0 %)")
    assert "relay-secret" not in page.content()

    page.click("#relay-enable-0")
    expect(page.locator(".flash.ok")).to_contain_text("Relay relay-a re-enabled")
    expect(page.locator('[data-relay-notice="0"]')).to_have_count(0)
    expect(page.locator('[data-relay-state="0"]')).to_contain_text("ready")
    screenshot(page, "relay-re-enabled")
