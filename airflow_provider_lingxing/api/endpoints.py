"""One table of the endpoints this provider knows: path, method, concurrency capacity, batch limit."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://openapi.lingxing.com"


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    capacity: int
    """Requests that may be in flight at once per app id (the "令牌桶容量", §5)."""
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

REGIONS = ("NA", "EU", "FE")


def normalize_path(path: str) -> str:
    """One leading slash, none trailing: a doubled slash is answered `500 404 NOT_FOUND` (§1)."""
    return "/" + path.strip().strip("/")


def endpoint_for(path: str, method: str = "POST") -> Endpoint:
    path = normalize_path(path)
    return ENDPOINTS.get(path) or Endpoint(path, method.upper(), capacity=UNKNOWN_ENDPOINT_CAPACITY)


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + normalize_path(path)
