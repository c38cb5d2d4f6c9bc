"""Outside text that ends up in a mail's headers, end to end: a reader's name through
the subscribe form, a tool name through the push API, an editor's subject. Each
must arrive as text in the header it belongs to, and never make a header of its own.
"""
from __future__ import annotations

import base64

import pytest
from conftest import csrf_token
from support.editors import login, make_editor

from newsletter.issues import drafts

API = {"Authorization": "Bearer test-api-token"}
EXPECTED_CONFIRMATION = ["From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                         "List-Unsubscribe-Post", "Auto-Submitted", "MIME-Version", "Content-Type"]


def encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def head(mail) -> str:
    """The header block as it arrived (the Maildir keeps lines with LF endings)."""
    return mail.raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode()


def subscribe(client, email, name):
    return client.post("/subscribe", data={"csrf_token": csrf_token(client), "email": email, "name": name})


def test_an_encoded_word_name_stays_a_name_in_the_confirmation(client, smtp, celery_worker):
    name = encoded_word("Eve\r\nBcc: victim@example.com\r\nReply-To: eve@evil.test")
    assert subscribe(client, "eve@example.com", name).status_code == 200
    [mail] = smtp.wait_for(1)
    assert mail.envelope_to == ["eve@example.com"]
    assert list(mail.message.keys())[:len(EXPECTED_CONFIRMATION)] == EXPECTED_CONFIRMATION
    assert mail.message["Bcc"] is None and mail.message["Reply-To"] is None
    [to] = mail.message["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "eve@example.com")
    assert "victim@example.com" not in head(mail)


def test_a_name_with_markup_cannot_become_the_recipient(client, smtp, celery_worker):
    assert subscribe(client, "bold@example.com", "<b>Bold</b> reader").status_code == 200
    [mail] = smtp.wait_for(1)
    [to] = mail.message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("<b>Bold</b> reader", "bold@example.com")


def test_one_click_in_the_confirmation_is_a_url_a_mail_client_can_use(client, smtp, celery_worker):
    subscribe(client, "oneclick@example.com", "")
    [mail] = smtp.wait_for(1)
    lines = head(mail).split("\n")
    [line] = [h for h in lines if h.startswith("List-Unsubscribe:")]
    assert line.startswith("List-Unsubscribe: <http://newsletter.test/unsubscribe/") and line.endswith(">")
    assert "=?" not in line
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines


def test_the_form_lets_the_server_judge_every_length(client):
    html = client.get("/subscribe").get_data(as_text=True)
    assert "maxlength" not in html


def test_a_pushed_tool_name_and_an_editors_subject_stay_text_in_the_issue(client, db, smtp, celery_worker):
    from support.comparisons import comparison_json

    body = comparison_json()
    evil = "=?utf-8?q?Zeta=0D=0AX-Evil:_1?="
    body["tools"][0]["name"] = evil
    body["title"] = f"{evil} vs {body['tools'][1]['name']}"
    body.pop("published_at", None)
    assert client.post("/api/comparisons", json=body, headers=API).status_code == 201
    with db.session() as session:
        issue_id = drafts.refresh_draft(session).issue.id
        session.commit()
    make_editor(db)
    login(client)
    path = f"/editor/issues/{issue_id}/preview"
    client.post(f"/editor/issues/{issue_id}/test", data={"csrf_token": csrf_token(client, path),
                                                          "addresses": "ed@example.com"})
    [mail] = smtp.wait_for(1)
    assert mail.message["X-Evil"] is None
    assert mail.message["Subject"] == f"[TEST] {body['title']}"


def test_an_editors_subject_with_a_line_break_is_refused_with_a_reason(session):
    issue = drafts.refresh_draft(session).issue
    with pytest.raises(drafts.DigestError, match="one line"):
        drafts.update_content(issue, subject="Hi\r\nBcc: x@example.com", preheader="", intro="", intro_format="text")
