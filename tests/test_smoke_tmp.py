from conftest import csrf_token


def test_subscribe_sends_confirmation(client, smtp, celery_worker, session):
    token = csrf_token(client)
    r = client.post("/subscribe", data={"csrf_token": token, "email": "a@Example.com", "name": "A"})
    assert r.status_code == 200
    msgs = smtp.wait_for(1)
    assert len(msgs) == 1
    assert msgs[0].envelope_to == ["a@example.com"]
