"""Choosing categories in a real browser (Debian's chromium via Playwright): on the
subscribe form and on the reader's manage page, with the "All categories" box
behaving as it says (ticking a category unticks it, ticking it unticks the
categories, unticking the last category ticks it again), and the choice the
database holds after each save."""
import pytest
from sqlalchemy import select
from support.issues import make_comparison

from newsletter.models import Subscriber

pytestmark = pytest.mark.browser

CATEGORIES = ("Developer Tools", "Image Generation", "Writing Assistants")


@pytest.fixture
def categorised(live_server):
    with live_server.app.extensions["db"].session() as session:
        for n, category in enumerate(CATEGORIES):
            comparison = make_comparison(session, f"{category} A", f"{category} B")
            for tool in comparison.tools:
                tool.category = category
        session.commit()
    return live_server


def stored(live_server, email) -> Subscriber:
    with live_server.app.extensions["db"].session() as session:
        return session.scalar(select(Subscriber).where(Subscriber.email_key == email))


def box(page, category):
    return page.locator(f"#categories input[value='{category}']")


def ticked(page) -> list[str]:
    return [el.get_attribute("value") for el in page.locator("#categories input:checked").all()]


def subscribe(page, url, email, *, tick=(), screenshot=None):
    page.goto(f"{url}/subscribe")
    assert ticked(page) == ["*"]  # "All categories" is the default
    page.fill("#email", email)
    for category in tick:
        box(page, category).check()
    if screenshot:
        screenshot(page, "subscribe-with-categories")
    page.click("button[type=submit]")
    page.wait_for_selector("#check-inbox")


def test_choosing_categories_on_the_subscribe_form(page, categorised, screenshot, smtp):
    url = categorised.url
    subscribe(page, url, "picky@example.com", tick=("Writing Assistants", "Image Generation"), screenshot=screenshot)
    assert stored(categorised, "picky@example.com").categories == "Image Generation\nWriting Assistants"

    subscribe(page, url, "everything@example.com")
    assert stored(categorised, "everything@example.com").categories == ""

    page.goto(f"{url}/subscribe")
    box(page, "Developer Tools").check()
    assert ticked(page) == ["Developer Tools"]  # ticking a category unticks "All"
    page.check("#category-all")
    assert ticked(page) == ["*"]  # ticking "All" unticks the categories
    box(page, "Image Generation").check()
    box(page, "Image Generation").uncheck()
    assert ticked(page) == ["*"]  # nothing ticked is "All" again, and says so
    page.fill("#email", "changed-mind@example.com")
    page.click("button[type=submit]")
    page.wait_for_selector("#check-inbox")
    assert stored(categorised, "changed-mind@example.com").categories == ""
    assert smtp.wait_for(3, timeout=30)  # the confirmation mails are out before the worker stops


def test_changing_categories_on_the_manage_page(page, categorised, screenshot, smtp):
    url = categorised.url
    subscribe(page, url, "reader@example.com", tick=("Image Generation", "Writing Assistants"))
    reader = stored(categorised, "reader@example.com")
    manage = f"{url}/manage/{reader.id}/{reader.manage_token}"

    page.goto(manage)
    assert ticked(page) == ["Image Generation", "Writing Assistants"]
    screenshot(page, "manage-categories")
    box(page, "Image Generation").uncheck()
    page.click("#save-categories")
    page.wait_for_selector("#manage-flash")
    assert "categories are saved" in page.inner_text("#manage-flash")
    assert stored(categorised, "reader@example.com").categories == "Writing Assistants"
    assert ticked(page) == ["Writing Assistants"]

    box(page, "Writing Assistants").uncheck()
    assert ticked(page) == ["*"]
    page.click("#save-categories")
    page.wait_for_selector("#manage-flash")
    assert stored(categorised, "reader@example.com").categories == ""

    box(page, "Developer Tools").check()
    assert ticked(page) == ["Developer Tools"]
    page.click("#save-categories")
    page.wait_for_selector("#manage-flash")
    screenshot(page, "manage-categories-saved")
    assert stored(categorised, "reader@example.com").categories == "Developer Tools"
    for category in CATEGORIES:  # every one ticked is "all", new categories included
        box(page, category).check()
    page.click("#save-categories")
    page.wait_for_selector("#manage-flash")
    assert stored(categorised, "reader@example.com").categories == ""
    assert ticked(page) == ["*"]
    assert smtp.wait_for(1, timeout=30)  # the confirmation mail is out before the worker stops
