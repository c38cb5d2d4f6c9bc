"""The parsers on bounces as real servers write them, and on what they must not guess at."""
from __future__ import annotations

import pytest
from support import bounces

from newsletter.feedback import parsers
from newsletter.feedback.parsers import COMPLAINT, HARD, IGNORE, SOFT, UNKNOWN

TO = "b-7-abcdefghij@bounces.verdicts.test"
RCPT = "reader00001@example.com"


def test_dsn_failed_5xx_is_a_hard_bounce_with_its_reason_and_original_message_id():
    parsed = parsers.parse(bounces.dsn(TO, RCPT))
    assert parsed.verdict == HARD and parsed.status == "5.1.1"
    assert parsed.recipient == RCPT
    assert "User unknown" in parsed.reason
    assert parsed.original_message_id == "issue-1.sub-1@verdicts.test"
    assert parsed.original_sender == TO


@pytest.mark.parametrize("action, status", [("delayed", "4.4.1"), ("failed", "4.4.7")])
def test_dsn_delayed_or_given_up_on_4xx_is_soft(action, status):
    parsed = parsers.parse(bounces.dsn(TO, RCPT, action=action, status=status, diagnostic="smtp; 451 try later"))
    assert parsed.verdict == SOFT and parsed.status == status


def test_dsn_with_only_the_returned_headers_still_gives_the_message_id():
    parsed = parsers.parse(bounces.dsn(TO, RCPT, headers_only=True, message_id="issue-3.sub-9@verdicts.test"))
    assert parsed.verdict == HARD and parsed.original_message_id == "issue-3.sub-9@verdicts.test"


def test_a_report_of_success_is_ignored():
    assert parsers.parse(bounces.dsn(TO, RCPT, action="delivered", status="2.0.0")).verdict == IGNORE


def test_a_dsn_with_an_unknown_action_is_not_guessed():
    assert parsers.parse(bounces.dsn(TO, RCPT, action="exploded", status="5.1.1")).verdict == UNKNOWN


def test_arf_abuse_is_a_complaint_and_names_our_envelope_sender():
    parsed = parsers.parse(bounces.arf(TO, RCPT))
    assert parsed.verdict == COMPLAINT
    assert parsed.recipient == RCPT and parsed.original_sender == TO
    assert parsed.original_message_id == "issue-1.sub-1@verdicts.test"


def test_arf_not_spam_is_no_complaint():
    assert parsers.parse(bounces.arf(TO, RCPT, feedback_type="not-spam")).verdict == UNKNOWN


@pytest.mark.parametrize("make, verdict, status", [
    (bounces.exim, HARD, "5.1.1"),
    (bounces.qmail, HARD, "5.1.1"),
    (bounces.microsoft, HARD, "5.1.10"),
    (bounces.gmail, HARD, "5.1.1"),
    (lambda to, rcpt: bounces.exim(to, rcpt, permanent=False), SOFT, "4.3.0"),
])
def test_non_standard_bounces(make, verdict, status):
    parsed = parsers.parse(make(TO, RCPT))
    assert (parsed.verdict, parsed.status) == (verdict, status)
    assert status in parsed.reason


def test_codes_in_the_returned_copy_are_not_the_servers_answer():
    """Exim's notice quotes our issue ("Version 5.0.1"); only the notice's own words count."""
    mail = bounces.exim(TO, RCPT).replace(b"550 5.1.1 No such user here", b"the server hung up")
    assert parsers.parse(mail).verdict == HARD  # "This is a permanent error", in its own words
    vague = mail.replace(b"This is a permanent error. ", b"")
    assert parsers.parse(vague).verdict == UNKNOWN


@pytest.mark.parametrize("header, subject", [
    ("Auto-Submitted: auto-replied", "Re: Quillmate 2"),
    ("X-Autoreply: yes", "Re: Quillmate 2"),
    ("Precedence: auto_reply", "Re: Quillmate 2"),
    ("X-Mailer: Outlook", "Automatic reply: Quillmate 2"),
    ("X-Mailer: Outlook", "=?utf-8?q?R=C3=A9ponse_automatique?= : absent"),
])
def test_auto_replies_are_recognised_and_ignored(header, subject):
    parsed = parsers.parse(bounces.auto_reply(TO, header=header, subject=subject))
    assert parsed.verdict == IGNORE and parsed.note.startswith("auto-reply")


def test_a_personal_reply_is_kept_not_guessed():
    parsed = parsers.parse(bounces.auto_reply(TO, header="X-Mailer: Thunderbird", subject="Re: great issue"))
    assert parsed.verdict == UNKNOWN


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe garbage", b"Subject: x\r\n\r\n" + b"A" * 100_000,
                                 b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno parts"])
def test_malformed_input_is_unknown_never_an_error(raw):
    assert parsers.parse(raw).verdict == UNKNOWN


def test_hostile_fields_are_cleaned():
    mail = bounces.dsn(TO, RCPT, diagnostic="smtp; 550 bad\x1b[31m\x07 user")
    reason = parsers.parse(mail).reason
    assert "\x1b" not in reason and "\x07" not in reason and "550 bad" in reason
