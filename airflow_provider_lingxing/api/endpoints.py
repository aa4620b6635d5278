"""One table of the endpoints this provider knows: path, method, concurrency capacity, batch limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_lingxing.api.errors import LingxingInputError

DEFAULT_BASE_URL = "https://openapi.lingxing.com"


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    capacity: int
    """Requests that may be in flight at once per app id (the "令牌桶容量": docs/lingxing-openapi.md)."""
    batch_limit: int | None = None
    """Most task ids one request may carry, where the endpoint takes a list."""
    idempotent: bool = True
    """False: a request that may have reached the server must never be re-sent."""


ACCESS_TOKEN = Endpoint("/api/auth-server/oauth/access-token", "POST", capacity=100)
REFRESH_TOKEN = Endpoint("/api/auth-server/oauth/refresh", "POST", capacity=100)
SELLER_LIST = Endpoint("/erp/sc/data/seller/lists", "GET", capacity=1)
SUBMIT_FULFILLMENT = Endpoint("/pb/mp/order/submitFulfillment", "POST", capacity=10, idempotent=False)
GET_FULFILLMENT_RESULT = Endpoint("/pb/mp/order/getFulfillmentResult", "POST", capacity=10, batch_limit=10)

ENDPOINTS = {e.path: e for e in (ACCESS_TOKEN, REFRESH_TOKEN, SELLER_LIST, SUBMIT_FULFILLMENT, GET_FULFILLMENT_RESULT)}

UNKNOWN_ENDPOINT_CAPACITY = 1
"""An endpoint missing from the table gets the smallest documented capacity: never over the limit."""


def normalize_path(path: str) -> str:
    """One leading slash, none trailing: a doubled slash is answered `500 404 NOT_FOUND`."""
    return "/" + path.strip().strip("/")


def endpoint_for(path: str, method: str = "POST") -> Endpoint:
    path = normalize_path(path)
    return ENDPOINTS.get(path) or Endpoint(path, method.upper(), capacity=UNKNOWN_ENDPOINT_CAPACITY)


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + normalize_path(path)


TOKEN_ENDPOINT_PATHS = frozenset({ACCESS_TOKEN.path, REFRESH_TOKEN.path})


def requested_endpoint(method: Any, path: Any, params: Any, body: Any) -> tuple[Endpoint, Mapping[str, Any] | None]:
    """The endpoint and payload of a generic request (`LingxingHook.request`); each message names the argument."""
    if not isinstance(method, str) or method.upper() not in ("GET", "POST"):
        raise LingxingInputError(f"method must be GET or POST, got {method!r}")
    if not isinstance(path, str) or not path.strip("/ "):
        raise LingxingInputError(f"path must be an endpoint path such as {SELLER_LIST.path}, got {path!r}")
    method = method.upper()
    endpoint = endpoint_for(path, method)
    if endpoint.path in TOKEN_ENDPOINT_PATHS:
        raise LingxingInputError(f"path {endpoint.path} is a token endpoint: the hook manages tokens itself")
    if endpoint.method != method:
        raise LingxingInputError(f"method for {endpoint.path} must be {endpoint.method}, got {method}")
    for name, value in (("params", params), ("body", body)):
        if value is not None and not isinstance(value, Mapping):
            raise LingxingInputError(f"{name} must be a dict or None, got {type(value).__name__}")
    if method == "GET" and body is not None:
        raise LingxingInputError(f"body must be None for GET {endpoint.path}: pass the parameters as params")
    if method == "POST" and params is not None:
        raise LingxingInputError(f"params must be None for POST {endpoint.path}: pass the parameters as body")
    return endpoint, params if method == "GET" else body
