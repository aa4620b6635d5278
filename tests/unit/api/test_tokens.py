"""Token state: what is stored, when a stored token is used, refreshed or replaced."""

from __future__ import annotations

import pytest

from airflow_provider_lingxing.api.tokens import (
    REFRESH_MARGIN_SECONDS,
    AccessToken,
    TokenAction,
    app_fingerprint,
    newer_than,
    owner_fingerprint,
    store_key,
    token_action,
)
from airflow_provider_lingxing.tokens import MemoryTokenStore

OWNER = owner_fingerprint("https://openapi.lingxing.com", "ak_3fK9pQ2xLm7Za")
APP = app_fingerprint("ak_3fK9pQ2xLm7Za")
NOW = 1_700_000_000.0


def _token(access: str = "acc-1", expires_in: float = 7199, owner: str = OWNER) -> AccessToken:
    return AccessToken(access, f"ref-of-{access}", NOW + expires_in, owner)


def test_token_answer_becomes_a_token_with_an_absolute_expiry():
    data = {"access_token": "4dcaa78e", "refresh_token": "da5b5047", "expires_in": 7199}
    token = AccessToken.from_response(data, now=NOW, owner=OWNER)
    assert token == AccessToken("4dcaa78e", "da5b5047", NOW + 7199, OWNER)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"access_token": "a", "refresh_token": "r"},
        {"access_token": "", "refresh_token": "r", "expires_in": 1},
    ],
)
def test_incomplete_token_answer_is_refused(data):
    with pytest.raises(ValueError, match="token answer"):
        AccessToken.from_response(data, now=NOW)


def test_json_round_trip_and_garbage_is_refused():
    token = _token()
    assert AccessToken.from_json(token.to_json()) == token
    for garbage in ("", "null", "[]", '{"access_token": "x"}', "not json"):
        with pytest.raises(ValueError, match="not a stored Lingxing token"):
            AccessToken.from_json(garbage)


def test_repr_hides_both_tokens():
    text = repr(_token("secret-access-value"))
    assert "secret-access-value" not in text and "ref-of" not in text


def test_use_then_refresh_shortly_before_expiry_then_fetch():
    token = _token(expires_in=3600)
    assert token_action(token, now=NOW, owner=OWNER) is TokenAction.USE
    assert token_action(token, now=NOW + 3600 - REFRESH_MARGIN_SECONDS, owner=OWNER) is TokenAction.REFRESH
    assert token_action(token, now=NOW + 3600, owner=OWNER) is TokenAction.FETCH
    assert token_action(None, now=NOW, owner=OWNER) is TokenAction.FETCH


def test_a_token_of_another_app_or_host_is_never_used():
    other = owner_fingerprint("https://openapi.lingxing.com", "ak_another_app_16")
    assert token_action(_token(), now=NOW, owner=other) is TokenAction.FETCH
    elsewhere = owner_fingerprint("https://lingxing.example.net", "ak_3fK9pQ2xLm7Za")
    assert token_action(_token(), now=NOW, owner=elsewhere) is TokenAction.FETCH


def test_fingerprints_name_the_app_without_revealing_it():
    assert app_fingerprint("ak_3fK9pQ2xLm7Za") == APP != app_fingerprint("ak_3fK9pQ2xLm7Zb")
    assert "3fK9" not in APP + OWNER and len(APP) == len(OWNER) == 16
    assert store_key(OWNER) == f"lingxing_token__{OWNER}"


def test_newer_than_wants_another_live_token():
    refused = _token("acc-1")
    assert newer_than(_token("acc-2"), refused, now=NOW, owner=OWNER)
    assert not newer_than(_token("acc-1"), refused, now=NOW, owner=OWNER)
    assert not newer_than(None, refused, now=NOW, owner=OWNER)
    assert not newer_than(_token("acc-2", expires_in=-1), refused, now=NOW, owner=OWNER)


def test_memory_store_and_key_per_app_id():
    store = MemoryTokenStore()
    assert store.get(store_key(OWNER)) is None
    store.put(store_key(OWNER), _token())
    assert store.get(f"lingxing_token__{OWNER}") == _token()
    assert store.get(store_key(owner_fingerprint("https://openapi.lingxing.com", "ak_another_app_16"))) is None
