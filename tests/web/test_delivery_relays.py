"""The delivery page's relay panel: each relay's state and share of the issue, the
notice for a disabled relay with its re-enable button (CSRF), and no password
anywhere on the page or in its JSON."""
from __future__ import annotations

from collections import Counter

import pytest
from conftest import csrf_token
from support.delivery import make_sending_issue, make_subscribers

from newsletter.delivery import ledger
from newsletter.mail.transport.relay_state import relay_key, store_for

PASSWORD = "hunter2-relay-secret"


@pytest.fixture
def env(env):
    return {**env, "SMTP_RELAYS": f"smtp://news:{PASSWORD}@relay-a.test:587?tls=starttls&weight=3&name=relay-a,"
                                  "smtps://relay-b.test?name=relay-b,smtp://relay-c.test:2525?weight=0"}


@pytest.fixture
def issue_id(db):
    with db.session() as session:
        make_subscribers(session, 4)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        session.commit()
    return issue_id


def _state(app, issue_id):
    settings = app.extensions["settings"]
    store = store_for(settings)
    a, b, c = (relay_key(settings, relay) for relay in settings.relays)
    store.disable(a, 1_800_000_000.0, "relay-a.test:587: 535 5.7.8 Authentication credentials invalid")
    store.cool(b, 4_000_000_000.0, "relay-b.test:465: ConnectionRefusedError: [Errno 111] Connection refused")
    store.count(Counter({a: 10, b: 30}), f"issue-{issue_id}")
    store.count(Counter({b: 5}), "issue-999")  # another issue's: not this one's share


def test_the_panel_shows_each_relay_and_a_notice_for_the_disabled_one(app, editor_client, issue_id):
    _state(app, issue_id)
    path = f"/editor/issues/{issue_id}/delivery"
    page = editor_client.get(path).get_data(as_text=True)
    assert 'id="delivery-relays"' in page
    assert "Relay relay-a is disabled" in page and "535 5.7.8 Authentication credentials invalid" in page
    assert "carries on through the other relays" in page and 'id="relay-enable-0"' in page
    assert 'data-relay-share="0">10 (25.0 %)' in page and 'data-relay-share="1">30 (75.0 %)' in page
    assert 'data-relay-share="2">0 (0.0 %)' in page and "0 (backup)" in page
    assert "until 2096-10-02" in page  # relay-b cooling, until when
    assert 'data-relay-accepted="1">35<' in page
    assert PASSWORD not in page and "news:" not in page

    data = editor_client.get(f"{path}.json").get_json()
    states = {r["name"]: (r["state"], r["share"]) for r in data["relays"]}
    assert states == {"relay-a": ("disabled", 10), "relay-b": ("cooling", 30), "relay-c.test:2525": ("ready", 0)}
    assert PASSWORD not in str(data)
    assert 'id="delivery-relays"' in editor_client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)


def test_re_enabling_a_relay_needs_an_editor_and_a_csrf_token(app, client, editor_client, issue_id):
    _state(app, issue_id)
    path = f"/editor/issues/{issue_id}/delivery"
    assert editor_client.post(f"{path}/relays/0/enable").status_code == 400
    token = csrf_token(editor_client, path)
    assert editor_client.post(f"{path}/relays/7/enable", data={"csrf_token": token}).status_code == 404
    response = editor_client.post(f"{path}/relays/0/enable", data={"csrf_token": token})
    assert response.status_code == 302
    page = editor_client.get(path).get_data(as_text=True)
    assert "Relay relay-a re-enabled" in page and "Relay relay-a is disabled" not in page
    assert {r["name"]: r["state"] for r in editor_client.get(f"{path}.json").get_json()["relays"]}["relay-a"] == "ready"


def test_the_relay_panel_needs_an_editor(app, db, issue_id):
    anonymous = app.test_client()
    assert anonymous.post(f"/editor/issues/{issue_id}/delivery/relays/0/enable").status_code in (302, 400)
    assert anonymous.get(f"/editor/issues/{issue_id}/delivery.json").status_code == 302
