"""Header values carrying outside text: whatever the text, the message parses back
with exactly the headers we wrote, and each shows the text as it was given.

Regressions for issue 9: a name or subject holding an RFC 2047 encoded-word whose
decoded text has CR/LF used to put raw CR/LF into the header (the stdlib policy
decodes before folding), and a name like `<b>Bold</b>` made a parser read the
recipient as `b`.
"""
from __future__ import annotations

import base64
import email
import email.policy
import unicodedata

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter.config import load_settings
from newsletter.mail import headers
from newsletter.mail.compose import Composer, Recipient
from newsletter.mail.rendering import RenderedMail

ENV = {
    "DATABASE_URL": "sqlite://", "CELERY_BROKER_URL": "memory://", "SECRET_KEY": "x" * 20,
    "BASE_URL": "http://newsletter.test", "MAIL_FROM": "Weekly AI Tool Verdicts <newsletter@verdicts.test>",
}
COMPOSER = Composer(load_settings(ENV))
EXPECTED = ["From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
            "MIME-Version", "Content-Type"]


def encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


hostile = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("ab<>\"\\(),;:@.=?_ \r\n\t\x00\x7f")), max_size=40),
    st.builds(lambda t: encoded_word(t + "\r\nBcc: victim@example.com"), st.text(max_size=20)),
    st.builds(lambda t: f"=?utf-8?q?{t}=0D=0AX-Evil:_1?=", st.text(alphabet="abc", max_size=5)),
    st.just("<b>Bold</b> & Co"),
)


def shown(text: str) -> str:
    """What a header can show of `text`: one line, no control characters."""
    return " ".join("".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc").split())


def parse(message: bytes):
    return email.message_from_bytes(message, policy=email.policy.default)


@hsettings(max_examples=300, deadline=None)
@given(name=hostile, subject=hostile)
def test_any_name_and_subject_parse_back_as_exactly_our_headers(name, subject):
    template = COMPOSER.compose(RenderedMail(subject, "<p>x</p>", "x"))
    raw = template.fill(Recipient("reader@example.com", "m.1", "http://newsletter.test/u/1/t", name))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
    for line in head.split(b"\r\n"):
        assert len(line) <= 998 and (line[:1] in (b" ", b"\t") or b":" in line)
    message = parse(raw)
    assert list(message.keys()) == EXPECTED
    assert not message.defects and not message["To"].defects
    [to] = message["To"].addresses
    assert to.addr_spec == "reader@example.com"
    assert to.display_name == shown(name)
    assert message["Subject"] == shown(subject)


def test_the_reported_injections_stay_text():
    subject = "Zeta\r\nX-Evil: 1 vs Other"
    name = encoded_word("Eve\r\nBcc: victim@example.com\r\nReply-To: eve@evil.test")
    template = COMPOSER.compose(RenderedMail(subject, "<p>x</p>", "x"))
    message = parse(template.fill(Recipient("reader@example.com", "m.1", "http://newsletter.test/u", name)))
    assert message["Bcc"] is None and message["Reply-To"] is None and message["X-Evil"] is None
    assert message["Subject"] == "Zeta X-Evil: 1 vs Other"
    assert message["To"].addresses[0].display_name == name  # shown as typed, never decoded


def test_a_bold_name_cannot_become_the_recipient():
    message = parse(COMPOSER.compose(RenderedMail("S", "<p>x</p>", "x")).fill(
        Recipient("reader@example.com", "m.1", "http://newsletter.test/u", "<b>Bold</b> reader")))
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == ("<b>Bold</b> reader", "reader@example.com")


def test_list_unsubscribe_is_a_plain_url_in_angle_brackets():
    raw = COMPOSER.compose(RenderedMail("S", "<p>x</p>", "x")).fill(
        Recipient("reader@example.com", "m.1", "http://newsletter.test/unsubscribe/7/tok-EN_1", "Ada"))
    assert b"\r\nList-Unsubscribe: <http://newsletter.test/unsubscribe/7/tok-EN_1>\r\n" in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_long_subjects_fold_and_long_words_are_encoded():
    value = "word " * 40 + "x" * 120
    line = headers.unstructured("Subject", value)
    assert all(len(part) <= 84 for part in line.split(b"\r\n"))
    assert all(len(word) <= 75 for word in line[len(b"Subject: "):].split())
    assert parse(line + b"\r\n")["Subject"] == " ".join(value.split())
