"""The one door from a request to the workers: after the commit, once, never a 500."""
from __future__ import annotations

from conftest import csrf_token
from support.delivery import make_sending_issue, make_subscribers
from support.editors import login, make_editor

from newsletter.delivery import control, ledger
from newsletter.web.context import get_session
from newsletter.web.jobs import after_commit


class FakeTask:
    name = "fake"

    def __init__(self, db=None):
        self.calls, self.db, self.seen = [], db, []

    def delay(self, *args):
        self.calls.append(args)


def test_jobs_go_once_after_the_commit_and_never_after_a_rollback(app):
    task = FakeTask()
    with app.test_request_context("/"):
        session = get_session()
        after_commit(task, 1)
        assert task.calls == []
        session.rollback()
        session.commit()
        assert task.calls == [], "a rolled-back request sends nothing"
        after_commit(task, 2)
        after_commit(task, 3)
        session.commit()
        session.commit()
        assert task.calls == [(2,), (3,)]


def test_other_sessions_do_not_flush_the_requests_jobs(app, db):
    task = FakeTask()
    with app.test_request_context("/"):
        get_session()
        after_commit(task, 1)
        with db.session() as worker_session:  # a task's or the CLI's session, same engine
            worker_session.commit()
        assert task.calls == []
        get_session().commit()
    assert task.calls == [(1,)]


def test_a_broker_outage_after_the_commit_is_not_a_500(make_app):
    """Resume commits `sending` and hands the issue to the workers through the door;
    with the broker down the editor still gets the page, and the sweeper dispatches later."""
    app = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI="memory://")
    app.extensions["celery"].conf.broker_connection_timeout = 1
    app.extensions["celery"].conf.task_publish_retry = False
    db = app.extensions["db"]
    with db.session() as session:
        make_subscribers(session, 2)
        issue_id = make_sending_issue(session)
        ledger.start(session, issue_id)
        control.pause(session, issue_id)
        session.commit()
    make_editor(db)
    client = app.test_client()
    login(client)
    path = f"/editor/issues/{issue_id}/delivery"
    response = client.post(f"{path}/resume", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert client.get(f"{path}.json").get_json()["status"] == "sending"
