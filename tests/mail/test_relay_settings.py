"""SMTP_RELAYS: the format, the single SMTP_* relay as a list of one, and errors
that name the setting and the entry but never echo a password."""
from __future__ import annotations

import pytest
from test_config import BASE

from newsletter.config import ConfigError, Relay, load_settings

SECRET = "pa%2Css@w0rd"  # "pa,ss@w0rd" percent-encoded


def relays(raw: str) -> tuple[Relay, ...]:
    return load_settings({**BASE, "SMTP_RELAYS": raw}).relays


def test_an_ordered_list_with_weights_tls_and_names():
    got = relays(f"smtp://news:{SECRET}@relay-a.example.com:587?tls=starttls&weight=3, "
                 "smtps://mx.example.net?weight=0&name=backup,smtp://10.0.0.5")
    assert got == (
        Relay("relay-a.example.com:587", "relay-a.example.com", 587, "news", "pa,ss@w0rd", "starttls", 3),
        Relay("backup", "mx.example.net", 465, "", "", "tls", 0),
        Relay("10.0.0.5:25", "10.0.0.5", 25, "", "", "none", 1),
    )


def test_without_smtp_relays_the_smtp_settings_are_a_list_of_one():
    settings = load_settings({**BASE, "SMTP_HOST": "relay.example.com", "SMTP_PORT": "2525",
                              "SMTP_USERNAME": "news", "SMTP_PASSWORD": "secret", "SMTP_SECURITY": "starttls"})
    assert settings.relays == (Relay("relay.example.com:2525", "relay.example.com", 2525, "news", "secret",
                                     "starttls", 1),)


def test_smtp_relays_replaces_the_single_relay():
    settings = load_settings({**BASE, "SMTP_HOST": "old.example.com", "SMTP_RELAYS": "smtp://new.example.com"})
    assert [r.host for r in settings.relays] == ["new.example.com"]


@pytest.mark.parametrize("raw, words", [
    ("http://relay.example.com", "entry 1 must start with smtp://"),
    (f"smtp://news:{SECRET}@relay.example.com:99999", "entry 1 has a malformed host or port"),
    (f"smtp://news:{SECRET}@", "entry 1 names no host"),
    ("smtp://a.example.com,,smtp://b.example.com", "entry 2 is empty"),
    (f"smtp://news:{SECRET}@relay.example.com?weight=heavy", "entry 1 (relay.example.com) weight must be a whole"),
    ("smtp://a.example.com?weight=1001", "weight must be between 0 and 1000"),
    (f"smtp://news:{SECRET}@relay.example.com?tls=ssl3", "tls must be one of none, starttls, tls"),
    ("smtps://relay.example.com?tls=none", "smtps:// is always tls"),
    (f"smtp://news:{SECRET}@relay.example.com?pasword=x", "unknown parameter 'pasword'"),
    ("smtp://news@relay.example.com", "needs both a user and a password"),
    (f"smtp://news:{SECRET}@relay.example.com/path", "has a path"),
    ("smtp://a.example.com?name=two words", "name must be"),
    ("smtp://a.example.com,smtp://a.example.com", "two relays are called 'a.example.com:25'"),
    ("smtp://a.example.com?weight=0", "at least one relay needs a weight above 0"),
])
def test_bad_entries_are_named_without_the_password(raw, words):
    with pytest.raises(ConfigError) as caught:
        relays(raw)
    message = str(caught.value)
    assert message.startswith("SMTP_RELAYS") and words in message
    assert "pa,ss" not in message and SECRET not in message


def test_passwords_stay_out_of_reprs():
    settings = load_settings({**BASE, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "single-secret",
                              "SMTP_RELAYS": f"smtp://news:{SECRET}@relay.example.com"})
    assert "pa,ss" not in repr(settings) and "single-secret" not in repr(settings)
    assert "pa,ss" not in repr(settings.relays) and "relay.example.com" in repr(settings.relays)


def test_the_cool_down_is_validated():
    assert load_settings(BASE).smtp_relay_cooldown_seconds == 60
    with pytest.raises(ConfigError, match="SMTP_RELAY_COOLDOWN_SECONDS"):
        load_settings({**BASE, "SMTP_RELAY_COOLDOWN_SECONDS": "0"})
