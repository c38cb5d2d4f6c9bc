"""End to end with real `celery worker` and `celery beat` processes, not threads of the test."""
import os
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT, csrf_token
from support import processes


@pytest.fixture
def scheduler(env, tmp_path):
    """The real scheduler, whose confirmation relay hands new outbox rows to the workers."""
    log = open(tmp_path / "beat.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "celerybeat-schedule")],
        env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    yield proc
    processes.stop(proc)
    log.close()


@pytest.mark.worker
def test_confirmation_is_sent_by_a_worker_process_on_the_mail_queue(client, smtp, worker_process, scheduler):
    # Only the `mail` queue: the confirmation must never wait behind a weekly send.
    worker_process("-Q", "mail", "--concurrency", "1")
    response = client.post(
        "/subscribe", data={"csrf_token": csrf_token(client), "email": "proc@example.com", "name": "Proc"}
    )
    assert response.status_code == 200
    messages = smtp.wait_for(1, timeout=60)
    assert [m.envelope_to for m in messages] == [["proc@example.com"]]
    assert "/confirm/" in messages[0].text
