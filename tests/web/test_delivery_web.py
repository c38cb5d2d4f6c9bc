"""The editor's delivery page: live counts, JSON for polling, pause/resume/cancel with CSRF."""
from __future__ import annotations

import re
import secrets

import pytest
from conftest import csrf_token
from support.delivery import (
    THROTTLED_ENV,
    make_finished_issue,
    make_sending_issue,
    make_subscribers,
    status_counts,
    throttled_send,
)
from support.editors import login, make_editor

from newsletter.delivery import ledger, retention


def _issue(db, count=6):
    with db.session() as session:
        make_subscribers(session, count)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        session.commit()
    return issue_id


@pytest.fixture
def env(env):
    return {**env, **THROTTLED_ENV, "REDIS_KEY_PREFIX": f"{env['REDIS_KEY_PREFIX']}-dw-{secrets.token_hex(3)}"}


def test_the_page_and_its_json_show_a_throttled_copy_in_its_group(client, db, smtp, env):
    issue_id = throttled_send(db, smtp, env)
    make_editor(db)
    login(client)
    page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
    row = re.search(r'<tr data-group="other">(.*?)</tr>', page, re.S).group(1)
    assert 'data-group-waiting="other">1<' in row and 'data-group-throttled="other">1<' in row
    assert "slowed by throttles" in row and "<td>50/s</td>" in row and "no cap" in row
    other, = client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()["groups"]
    assert (other["group"], other["waiting"], other["deferred"], other["throttled"]) == ("other", 1, 1, 1)
    assert other["configured_rate"] == 50 and other["current_rate"] < 30 and other["warmup_cap"] == 0


def test_delivery_page_needs_an_editor(client, db):
    issue_id = _issue(db)
    assert client.get(f"/editor/issues/{issue_id}/delivery").status_code == 302
    assert client.get(f"/editor/issues/{issue_id}/delivery.json").status_code == 302
    assert client.post(f"/editor/issues/{issue_id}/delivery/pause").status_code in (302, 400)
    assert status_counts(db, issue_id) == {"pending": 6}


def test_editor_sees_counts_and_steers_the_send(client, db, celery_app, monkeypatch):
    issue_id = _issue(db)
    make_editor(db)
    login(client)
    page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
    assert 'id="delivery-progress"' in page and 'data-count="pending">6<' in page and "delivery-pause" in page
    issue_page = client.get(f"/editor/issues/{issue_id}").get_data(as_text=True)
    assert 'id="delivery"' in issue_page and 'id="delivery-page"' in issue_page
    data = client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()
    assert data["status"] == "sending" and data["total"] == 6 and data["counts"]["pending"] == 6

    path = f"/editor/issues/{issue_id}/delivery"
    assert client.post(f"{path}/pause").status_code == 400  # no CSRF token: refused
    assert client.post(f"{path}/pause", data={"csrf_token": csrf_token(client, path)}).status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "paused by ed@example.com" in page and "delivery-resume" in page

    dispatched = []
    monkeypatch.setattr("workers.delivery.dispatch_issue.delay", lambda issue: dispatched.append(issue))
    client.post(f"{path}/resume", data={"csrf_token": csrf_token(client, path)})
    assert dispatched == [issue_id]
    assert client.get(f"{path}.json").get_json()["status"] == "sending"

    client.post(f"{path}/cancel", data={"csrf_token": csrf_token(client, path)})
    data = client.get(f"{path}.json").get_json()
    assert data["status"] == "cancelled" and data["counts"]["skipped"] == 6
    assert not re.search(r'id="delivery-(pause|resume|cancel)"', client.get(path).get_data(as_text=True))


def test_the_delivery_page_shows_the_same_numbers_after_retention(client, db):
    with db.session() as session:
        issue_id = make_finished_issue(session, make_subscribers(session, 40), 1, days_ago=45)
        session.commit()
    make_editor(db)
    login(client)

    def shown():
        page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
        counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
        return counts, client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()

    before = shown()
    with db.session() as session:
        assert retention.roll_up(session, 30, lambda rows: session.commit()).rows == 23 + 3 + 2
        session.commit()
    assert status_counts(db, issue_id) == {"bounced": 3, "failed": 2}
    assert shown() == before and before[0]["sent"] == "23" and before[1]["counts"]["sent"] == 23


def test_the_groups_show_their_counts_while_redis_is_out_of_reach(make_app):
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="memory://")
    db = app.extensions["db"]
    issue_id = _issue(db, count=2)
    make_editor(db)
    client = app.test_client()
    login(client)
    page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
    assert 'data-group-waiting="other">2<' in page and "unknown (pacing state out of reach)" in page
    other, = client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()["groups"]
    assert other["waiting"] == 2 and other["pace_known"] is False and other["current_rate"] is None


def test_the_page_says_readers_are_still_being_added_until_the_snapshot_is_in(client, db, settings):
    from newsletter.delivery import snapshot

    with db.session() as session:
        make_subscribers(session, 10)
        issue_id = make_sending_issue(session)
        snapshot.step(session, issue_id, settings, limit=4)
        session.commit()
    make_editor(db)
    login(client)
    page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
    assert re.search(r'<span id="delivery-adding">', page)  # shown, not hidden
    data = client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()
    assert data["adding"] is True and data["total"] == 4
    with db.session() as session:
        snapshot.take_all(session, issue_id, settings)
        session.commit()
    page = client.get(f"/editor/issues/{issue_id}/delivery").get_data(as_text=True)
    assert '<span id="delivery-adding" hidden>' in page
    data = client.get(f"/editor/issues/{issue_id}/delivery.json").get_json()
    assert data["adding"] is False and data["total"] == 10
