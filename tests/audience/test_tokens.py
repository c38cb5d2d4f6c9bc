import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from newsletter.audience import tokens

KEY = "test-secret-key-0123456789"


def test_confirm_token_round_trip():
    token = tokens.make_confirm_token(KEY, 42, "abc")
    assert tokens.read_confirm_token(KEY, token, 3600) == (42, "abc")


def test_tampered_token_is_invalid():
    token = tokens.make_confirm_token(KEY, 42, "abc")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_confirm_token(KEY, tampered, 3600)


def test_token_signed_with_another_key_is_invalid():
    token = tokens.make_confirm_token("another-secret-key-000", 42, "abc")
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_confirm_token(KEY, token, 3600)


def test_token_for_another_purpose_is_invalid():
    other = URLSafeTimedSerializer(KEY, salt="newsletter.password-reset").dumps([42, "abc"])
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_confirm_token(KEY, other, 3600)


def test_expired_token(monkeypatch):
    issued = time.time() - 49 * 3600
    monkeypatch.setattr(time, "time", lambda: issued)
    token = tokens.make_confirm_token(KEY, 42, "abc")
    monkeypatch.undo()
    with pytest.raises(tokens.TokenExpired):
        tokens.read_confirm_token(KEY, token, 48 * 3600)


@pytest.mark.parametrize("payload", [["x", "abc"], [1], {"id": 1}, "1:abc", [1, 2]])
def test_signed_but_malformed_payload_is_invalid(payload):
    token = URLSafeTimedSerializer(KEY, salt=tokens.CONFIRM_PURPOSE).dumps(payload)
    with pytest.raises(tokens.TokenInvalid):
        tokens.read_confirm_token(KEY, token, 3600)


def test_unsubscribe_token_comparison():
    stored = tokens.new_unsubscribe_token()
    assert tokens.unsubscribe_token_matches(stored, stored)
    assert not tokens.unsubscribe_token_matches(stored, stored[:-1] + "x")
    assert not tokens.unsubscribe_token_matches(stored, "")
    assert len({tokens.new_unsubscribe_token() for _ in range(100)}) == 100


def test_empty_nonce_never_matches():
    assert not tokens.nonce_matches("", "")
    assert tokens.nonce_matches("abc", "abc")
