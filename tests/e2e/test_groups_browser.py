"""The receiving-domain groups on the delivery page, in Chromium: the table follows the
live JSON while the issue sends, without a reload."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update
from support.delivery import make_sending_issue, make_subscribers
from support.editors import PASSWORD, make_editor

from newsletter.delivery import ledger
from newsletter.models import Delivery, Subscriber

pytestmark = pytest.mark.browser


def test_the_groups_table_follows_the_send(live_server, page, screenshot):
    app = live_server.app
    db = app.extensions["db"]
    make_editor(db)
    with db.session() as session:
        readers = make_subscribers(session, 5)
        for n, reader in enumerate(readers[:2]):  # two readers at Gmail, three elsewhere
            session.execute(update(Subscriber).where(Subscriber.id == reader).values(
                email=f"reader{n}@gmail.com", email_key=f"reader{n}@gmail.com"))
        issue_id = make_sending_issue(session)  # never dispatched: the test plays the workers
        ledger.start(session, issue_id, settings=app.extensions["settings"])
        session.commit()

    page.goto(f"{live_server.url}/editor/login")
    page.fill("#email", "ed@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/editor/issues/{issue_id}/delivery")
    expect(page.locator('[data-group-waiting="gmail"]')).to_have_text("2")
    expect(page.locator('[data-group-waiting="other"]')).to_have_text("3")
    expect(page.locator('[data-group-throttles="gmail"]')).to_have_text("0")

    with db.session() as session:  # Gmail says slow down to one copy; another group's copy goes out
        gmail = session.scalar(select(Delivery.id).where(Delivery.issue_id == issue_id,
                                                         Delivery.pacing_group == "gmail").limit(1))
        other = session.scalar(select(Delivery.id).where(Delivery.issue_id == issue_id,
                                                         Delivery.pacing_group == "other").limit(1))
        session.execute(update(Delivery).where(Delivery.id == gmail).values(
            status="deferred", last_reply="421 4.7.28 Our system has detected an unusual rate", throttles=1))
        session.execute(update(Delivery).where(Delivery.id == other).values(status="sent", last_reply="250 ok"))
        session.commit()

    expect(page.locator('[data-group-deferred="gmail"]')).to_have_text("1")
    expect(page.locator('[data-group-throttled="gmail"]')).to_have_text("1")
    expect(page.locator('[data-group-throttles="gmail"]')).to_have_text("1")
    expect(page.locator('[data-group-waiting="gmail"]')).to_have_text("2")  # a deferred copy still waits
    expect(page.locator('[data-group-waiting="other"]')).to_have_text("2")
    screenshot(page, "groups-after-a-throttle")
