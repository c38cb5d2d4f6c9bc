"""The one composer: a mail built once and spliced per recipient, with the same
headers and DKIM signature for every kind of mail."""
from __future__ import annotations

import base64
import email
import email.policy
import subprocess

import dkim
import pytest

from newsletter.config import load_settings
from newsletter.mail.compose import Composer, Recipient
from newsletter.mail.headers import HeaderError
from newsletter.mail.rendering import EMAIL_PLACEHOLDER, MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, RenderedMail
from newsletter.mail.transport.smtp import SmtpTransport


def parse(message: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(message, policy=email.policy.default)


def issue_mail() -> RenderedMail:
    html = f"<p>Hi {EMAIL_PLACEHOLDER}</p>\n.dot line\n<a href=\"{UNSUBSCRIBE_PLACEHOLDER}\">x</a>" + "é" * 300
    return RenderedMail("Alpha vs Bêta", html, f"Hi {EMAIL_PLACEHOLDER}\n{UNSUBSCRIBE_PLACEHOLDER}\n")


def recipient(n: int, email: str, token: str) -> Recipient:
    return Recipient(email, f"issue-7.sub-{n}", f"http://newsletter.test/unsubscribe/{n}/{token}")


def test_message_is_spliced_per_recipient(settings):
    template = Composer(settings).compose(issue_mail())
    payload = template.fill(recipient(345, "o'neil&co@example.com", "tok-EN_1"))
    assert payload.endswith(b"\r\n") and b"\r\n" in payload and b"\n" not in payload.replace(b"\r\n", b"")
    assert max(len(line) for line in payload.split(b"\r\n")) <= 998
    message = parse(payload)
    url = "http://newsletter.test/unsubscribe/345/tok-EN_1"
    assert message["To"] == "o'neil&co@example.com"
    assert message["Message-ID"] == "<issue-7.sub-345@verdicts.test>"
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == "Alpha vs Bêta"
    assert message["List-Id"] and message["Date"] and message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    html_part = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "o&#x27;neil&amp;co@example.com" in html_part and f'href="{url}"' in html_part
    assert "\n.dot line\n" in html_part and html_part.rstrip("\n").endswith("é" * 300)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.rstrip("\n") + "\n" == f"Hi o'neil&co@example.com\n{url}\n"
    other = parse(template.fill(recipient(346, "b@example.com", "t2")))
    assert other["Message-ID"] == "<issue-7.sub-346@verdicts.test>"
    assert "b@example.com" in other.get_body(("html",)).get_content()


def test_the_manage_link_is_a_hole_filled_per_recipient(settings):
    html = f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">u</a>\n.<a href="{MANAGE_PLACEHOLDER}">Manage</a>'
    template = Composer(settings).compose(RenderedMail("S", html, f"Manage: {MANAGE_PLACEHOLDER}\n"))
    for n, token in ((1, "a&b=c"), (2, "zz")):
        manage = f"http://newsletter.test/manage/{n}/{token}"
        message = parse(template.fill(Recipient(f"r{n}@example.com", f"m.{n}", "http://newsletter.test/u", "",
                                                manage)))
        html_part = message.get_body(("html",)).get_content()
        assert f'href="{manage.replace("&", "&amp;")}">Manage' in html_part and MANAGE_PLACEHOLDER not in html_part
        assert message.get_body(("plain",)).get_content().strip() == f"Manage: {manage}"


def test_the_wire_form_is_dot_stuffed_once_and_reads_back_the_same(settings):
    template = Composer(settings).compose(issue_mail())
    wire = SmtpTransport(settings).prepare(template)
    plain = template.fill(recipient(1, "a@example.com", "t"))
    stuffed = wire.fill(recipient(1, "a@example.com", "t"))
    assert b"\r\n.dot line" in plain and b"\r\n..dot line" in stuffed
    assert stuffed.replace(b"\r\n..", b"\r\n.") == plain


def test_one_off_mail_has_the_same_headers_and_a_display_name(settings):
    template = Composer(settings).compose(RenderedMail("Confirm", "<p>x</p>", "x\n"),
                                          extra_headers={"Auto-Submitted": "auto-generated"})
    message = parse(template.fill(Recipient("ada@example.com", "confirm.1", "http://newsletter.test/u/1/t", "Ada")))
    assert message["To"].addresses[0].display_name == "Ada"
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] == "<http://newsletter.test/u/1/t>"
    assert message["From"] == "Weekly AI Tool Verdicts <newsletter@verdicts.test>"


def test_a_test_send_has_no_unsubscribe_headers(settings):
    template = Composer(settings).compose(RenderedMail("[TEST] S", "<p>x</p>", "x\n"), list_unsubscribe=False)
    message = parse(template.fill(Recipient("ed@example.com", "test.1", "http://newsletter.test/subscribe")))
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("address", ["a b@example.com", "<x>@example.com", "nobody", "a@b.c\r\nBcc: x@y.z"])
def test_unusable_addresses_are_refused(settings, address):
    template = Composer(settings).compose(RenderedMail("S", "<p>x</p>", "x\n"))
    with pytest.raises(HeaderError):
        template.fill(Recipient(address, "m.1", "http://newsletter.test/u"))


def test_dkim_signature_covers_list_unsubscribe(env, tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    settings = load_settings({**env, "DKIM_SELECTOR": "nl", "DKIM_DOMAIN": "verdicts.test",
                              "DKIM_PRIVATE_KEY_PATH": str(key)})
    template = Composer(settings).compose(RenderedMail("S", f"<p>{UNSUBSCRIBE_PLACEHOLDER}</p>\n.x", "t\n"))
    wire = SmtpTransport(settings).prepare(template).fill(recipient(1, "a@example.com", "tok"))
    signed = wire.replace(b"\r\n..", b"\r\n.")  # what the recipient's server stores
    header = signed.split(b"\r\n\r\n", 1)[0].lower()
    assert b"list-unsubscribe:list-unsubscribe-post" in header.replace(b"\r\n", b"").replace(b" ", b"")
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
