"""End to end with real `celery worker` and `celery beat` processes, not threads of the test."""
import pytest
from conftest import csrf_token


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
