"""The subscribe form embedded on the comparison site, in a real browser.

The comparison site is served from `localhost` and the service from `127.0.0.1`:
different sites, as in production, so the browser treats the iframe as
third-party (no SameSite=Lax cookie goes with its POST) and enforces the
service's frame-ancestors on every answer.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import free_port
from sqlalchemy import select

from newsletter.models import Subscriber, SubscriberStatus

pytestmark = pytest.mark.browser


class ComparisonSite:
    """A page of the comparison site with the README's iframe snippet in it."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.embed_url = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = (f'<!doctype html><title>X vs Y</title><h1>X vs Y</h1>'
                        f'<iframe id="newsletter" src="{site.embed_url}" width="420" height="360"></iframe>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def site():
    with ComparisonSite() as running:
        yield running


@pytest.fixture
def live_overrides(site):
    return {"COMPARISON_SITE_URL": site.url + "/comparisons/"}


def test_the_embedded_form_subscribes_inside_the_comparison_sites_page(page, live_server, site, smtp, screenshot):
    site.embed_url = f"{live_server.url}/embed"
    page.goto(site.url + "/comparisons/x-vs-y")
    frame = page.frame_locator("#newsletter")
    frame.locator("#email").fill("not an address")
    frame.locator("button[type=submit]").click()
    frame.locator("#email-error").wait_for()  # shown inside the frame, not a browser error page
    screenshot(page, "embed-error")

    frame.locator("#email").fill("framed.reader@example.com")
    frame.locator("button[type=submit]").click()
    frame.locator("#check-inbox").wait_for()
    screenshot(page, "embed-check-inbox")
    with live_server.app.extensions["db"].session() as session:
        status = session.scalar(select(Subscriber.status).where(Subscriber.email_key == "framed.reader@example.com"))
    assert status == SubscriberStatus.PENDING
    assert smtp.wait_for(1, timeout=30), "no confirmation mail"


def test_the_form_refuses_to_be_framed_by_any_other_site(page, live_server, screenshot):
    """The same page on another port of localhost is another origin: not allowed."""
    with ComparisonSite() as other:
        other.embed_url = f"{live_server.url}/embed"
        page.goto(other.url + "/")
        frame = page.frame("newsletter") or page.frames[-1]
        assert frame.query_selector("#email") is None
