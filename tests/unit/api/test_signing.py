"""The sign, byte for byte, against the 32 vectors of an independent implementation, and on the wire."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_lingxing.api import signing
from airflow_provider_lingxing.api.calls import build_business_request
from airflow_provider_lingxing.api.endpoints import GET_FULFILLMENT_RESULT, Endpoint
from tests.sign_vectors import COPY_FILE, SHARED_FILE, VECTORS


def test_the_shared_file_holds_32_vectors():
    assert len(VECTORS) == 32


@pytest.mark.skipif(not SHARED_FILE.exists(), reason="../shared is not beside this clone")
def test_the_committed_copy_is_the_shared_file():
    assert COPY_FILE.read_bytes() == SHARED_FILE.read_bytes()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sign_matches_the_vector(vector):
    params = {
        **vector["business_params"],
        "access_token": vector["access_token"],
        "app_key": vector["app_id"],
        "timestamp": vector["timestamp"],
    }
    assert signing.canonical_string(params) == vector["canonical_string"]
    assert signing.md5_upper(vector["canonical_string"]) == vector["md5_upper"]
    assert (
        signing.sign(
            vector["business_params"],
            app_id=vector["app_id"],
            access_token=vector["access_token"],
            timestamp=vector["timestamp"],
        )
        == vector["sign"]
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_request_sent_carries_the_vector_sign_and_the_signed_body(vector):
    request = build_business_request(
        GET_FULFILLMENT_RESULT,
        base_url="https://openapi.lingxing.com/",
        app_id=vector["app_id"],
        access_token=vector["access_token"],
        payload=vector["business_params"],
        timestamp=vector["timestamp"],
    )
    url = urlsplit(request.url)
    assert url.path == GET_FULFILLMENT_RESULT.path
    query = dict(parse_qsl(url.query))
    assert query == {
        "access_token": vector["access_token"],
        "app_key": vector["app_id"],
        "timestamp": vector["timestamp"],
        "sign": vector["sign"],
    }
    assert request.body == signing.compact_json(vector["business_params"]).encode()
    assert json.loads(request.body) == vector["business_params"]


def test_get_requests_carry_business_params_in_the_signed_query():
    vector = next(v for v in VECTORS if v["name"].startswith("GET-style"))
    endpoint = Endpoint("/erp/sc/some/list", "GET", capacity=1)
    request = build_business_request(
        endpoint,
        base_url="https://openapi.lingxing.com",
        app_id=vector["app_id"],
        access_token=vector["access_token"],
        payload=vector["business_params"],
        timestamp=vector["timestamp"],
    )
    assert request.body is None
    query = dict(parse_qsl(urlsplit(request.url).query))
    assert query["sign"] == vector["sign"]
    assert {k: query[k] for k in vector["business_params"]} == {k: str(v) for k, v in vector["business_params"].items()}


def test_the_sign_is_url_encoded_once():
    request = build_business_request(
        GET_FULFILLMENT_RESULT,
        base_url="https://openapi.lingxing.com",
        app_id="ak_3fK9pQ2xLm7Za",
        access_token="4dcaa78e-b0d7-4ac8-9f2e-1c8c5e8d1a11",
        payload={"seller_id": "A1MQMW3JWPNCBX", "task_id": [1003083]},
        timestamp="1675910576",
    )
    raw_sign = request.url.split("sign=", 1)[1]
    assert raw_sign == "ZEgm59hyzqIQVuUPurcspTk%2F3OBT43gtxrb%2BYsrphFy8KbNUVpZatnUukCUD2t%2Bc"


def test_none_values_are_neither_signed_nor_sent():
    common = dict(app_id="ak_3fK9pQ2xLm7Za", access_token="tok-123456", timestamp="1675910576")
    with_none = build_business_request(
        GET_FULFILLMENT_RESULT,
        base_url="https://x.example",
        payload={"seller_id": "S", "task_id": [1], "note": None, "nested": {"a": None, "b": 1}},
        **common,
    )
    without = build_business_request(
        GET_FULFILLMENT_RESULT,
        base_url="https://x.example",
        payload={"seller_id": "S", "task_id": [1], "nested": {"b": 1}},
        **common,
    )
    assert with_none == without
    assert b"null" not in with_none.body
