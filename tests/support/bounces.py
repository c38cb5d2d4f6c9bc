"""Bounce mails as real servers write them, built by hand for the tests: RFC 3464
reports (Postfix-style), RFC 5965 abuse reports, Exim, qmail, Microsoft and Gmail
notices, and auto-replies. Each returns the whole mail as bytes (CRLF)."""
from __future__ import annotations

ORIGINAL = (
    "Return-Path: <{envelope}>\n"
    "From: Weekly AI Tool Verdicts <newsletter@verdicts.test>\n"
    "To: {recipient}\n"
    "Subject: Quillmate 2 vs Draftwell + 2 more verdicts\n"
    "Message-ID: <{message_id}>\n"
    "Date: Tue, 24 Nov 2026 09:00:00 +0000\n"
    "MIME-Version: 1.0\n"
)


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def dsn(to: str, recipient: str, *, action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
        message_id: str = "issue-1.sub-1@verdicts.test", envelope: str = "", headers_only: bool = False) -> bytes:
    """A Postfix-style delivery status notification about `recipient`, sent to `to`."""
    original = ORIGINAL.format(envelope=envelope or to, recipient=recipient, message_id=message_id)
    copy_type = "text/rfc822-headers" if headers_only else "message/rfc822"
    copy = original if headers_only else original + "Content-Type: text/plain\n\nVersion 5.0.1 ships today.\n"
    return _crlf(f"""Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <20261124090001.ABC@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 24 Nov 2026 09:00:00 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic.format(recipient=recipient)}

--B1
Content-Type: {copy_type}

{copy}
--B1--
""")


def arf(to: str, recipient: str, *, feedback_type: str = "abuse", message_id: str = "issue-1.sub-1@verdicts.test",
        envelope: str = "") -> bytes:
    """An RFC 5965 abuse report from a mailbox provider's feedback loop."""
    original = ORIGINAL.format(envelope=envelope or to, recipient=recipient, message_id=message_id)
    return _crlf(f"""From: feedbackloop@fbl.example.net
To: {to}
Subject: FW: Quillmate 2 vs Draftwell
Message-ID: <fbl-77@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F1"

--F1
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--F1
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <{envelope or to}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Tue, 24 Nov 2026 09:00:00 +0000

--F1
Content-Type: text/rfc822-headers

{original}
--F1--
""")


def exim(to: str, recipient: str, *, permanent: bool = True, message_id: str = "issue-1.sub-1@verdicts.test") -> bytes:
    if permanent:
        body = f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.org [192.0.2.7]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 No such user here
"""
    else:
        body = f"""This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.org.

  {recipient}
    Delay reason: SMTP error from remote mail server after end of data:
    451 4.3.0 Temporary local problem

No action is required on your part. Delivery attempts will continue.
"""
    return _crlf(f"""From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: {to}
Subject: {"Mail delivery failed: returning message to sender" if permanent else "Warning: message 1abc delayed 24 hours"}
Message-ID: <E1abc@mx.example.org>
Auto-Submitted: auto-replied

{body}
------ This is a copy of the message, including all the headers. ------

Return-path: <{to}>
Message-ID: <{message_id}>
Subject: Quillmate 2 vs Draftwell

Version 5.0.1 of Draftwell ships today.
""")


def qmail(to: str, recipient: str, *, message_id: str = "issue-1.sub-1@verdicts.test") -> bytes:
    return _crlf(f"""From: MAILER-DAEMON@mail.example.com
To: {to}
Subject: failure notice

Hi. This is the qmail-send program at mail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <{to}>
Message-ID: <{message_id}>
Subject: Quillmate 2 vs Draftwell
""")


def microsoft(to: str, recipient: str, *, message_id: str = "issue-1.sub-1@verdicts.test") -> bytes:
    return _crlf(f"""From: postmaster@outlook.example.com
To: {to}
Subject: Undeliverable: Quillmate 2 vs Draftwell
Content-Type: text/plain; charset="utf-8"

Delivery has failed to these recipients or groups:

{recipient}
The email address you entered couldn't be found.

Diagnostic information for administrators:
Generating server: BN1PR01MB.example.com
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

Original message headers:
Message-ID: <{message_id}>
""")


def gmail(to: str, recipient: str, **_) -> bytes:
    return _crlf(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {to}
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to {recipient} because the address couldn't be found, or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.
""")


def auto_reply(to: str, *, header: str = "Auto-Submitted: auto-replied", subject: str = "Out of Office: Quillmate 2") -> bytes:
    return _crlf(f"""From: Reader <reader@example.com>
To: {to}
Subject: {subject}
{header}
Message-ID: <ooo-1@example.com>

I am away until Monday with no access to email.
""")
