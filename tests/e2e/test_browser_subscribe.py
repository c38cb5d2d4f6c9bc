"""A reader's whole journey in a real browser (Debian's chromium via Playwright)."""
import pytest
from sqlalchemy import select

from newsletter.models import Subscriber, SubscriberStatus

pytestmark = pytest.mark.browser


def status_of(live_server, email):
    with live_server.app.extensions["db"].session() as session:
        return session.scalar(select(Subscriber.status).where(Subscriber.email_key == email))


def open_latest_mail(page, live_server, screenshot, name):
    page.goto(f"{live_server.url}/inbox/")
    page.locator("#inbox a").first.click()
    page.wait_for_selector("#subject")
    screenshot(page, name)
    return page.frame_locator("iframe[title='HTML part']")


def click_in_mail(page, mail, text):
    """Links in a mail open a new tab, as in a webmail client; return that tab."""
    with page.context.expect_page(timeout=3000) as opened:
        mail.get_by_text(text).click()
    new_page = opened.value
    new_page.wait_for_load_state()
    return new_page


def test_subscribe_confirm_and_unsubscribe(page, live_server, smtp, screenshot):
    page.goto(f"{live_server.url}/subscribe")
    screenshot(page, "subscribe-form")
    page.fill("#email", "not an address")
    page.click("button[type=submit]")
    assert page.locator("#email-error").is_visible()
    screenshot(page, "subscribe-error")

    page.fill("#email", "browser.reader@example.com")
    page.fill("#name", "Browser Reader")
    page.click("button[type=submit]")
    page.wait_for_selector("#check-inbox")
    screenshot(page, "check-inbox")

    assert smtp.wait_for(1, timeout=30), "the confirmation mail never reached the SMTP server"
    mail = open_latest_mail(page, live_server, screenshot, "confirmation-mail")
    page = click_in_mail(page, mail, "Confirm my subscription")
    page.wait_for_selector("#confirm")
    assert "/confirm/" in page.url
    screenshot(page, "confirm-page")
    assert status_of(live_server, "browser.reader@example.com") == SubscriberStatus.PENDING

    page.click("#confirm")
    page.wait_for_selector("#confirmed")
    screenshot(page, "confirmed")
    assert status_of(live_server, "browser.reader@example.com") == SubscriberStatus.CONFIRMED

    mail = open_latest_mail(page, live_server, screenshot, "mail-again")
    page = click_in_mail(page, mail, "Do not email me again")
    page.wait_for_selector("#unsubscribe")
    screenshot(page, "unsubscribe-page")
    assert status_of(live_server, "browser.reader@example.com") == SubscriberStatus.CONFIRMED

    page.click("#unsubscribe")
    page.wait_for_selector("#unsubscribed")
    screenshot(page, "unsubscribed")
    assert status_of(live_server, "browser.reader@example.com") == SubscriberStatus.UNSUBSCRIBED

    page.click("#resubscribe")
    page.wait_for_selector("#confirmed")
    assert "subscribed again" in page.inner_text("h1")
    screenshot(page, "resubscribed")
    assert status_of(live_server, "browser.reader@example.com") == SubscriberStatus.CONFIRMED
