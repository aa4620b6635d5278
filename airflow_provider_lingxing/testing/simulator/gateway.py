"""The gateway in front of every endpoint: its routes and buckets, its envelopes, and the checks of a business call.

The table below is the simulator's own reading of docs/lingxing-openapi.md (the client keeps its own in
`api/endpoints.py`; a test holds the two equal).
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    capacity: int
    """Requests of one app id that may be in flight at once on this path (the "令牌桶容量")."""


ACCESS_TOKEN = Route("/api/auth-server/oauth/access-token", "POST", capacity=100)
REFRESH_TOKEN = Route("/api/auth-server/oauth/refresh", "POST", capacity=100)
SELLER_LIST = Route("/erp/sc/data/seller/lists", "GET", capacity=1)
SUBMIT_FULFILLMENT = Route("/pb/mp/order/submitFulfillment", "POST", capacity=10)
GET_FULFILLMENT_RESULT = Route("/pb/mp/order/getFulfillmentResult", "POST", capacity=10)
ROUTES = {r.path: r for r in (ACCESS_TOKEN, REFRESH_TOKEN, SELLER_LIST, SUBMIT_FULFILLMENT, GET_FULFILLMENT_RESULT)}
TOKEN_ROUTES = (ACCESS_TOKEN, REFRESH_TOKEN)

GATEWAY_PARAMS = ("access_token", "app_key", "timestamp", "sign")
INTERNAL_ERROR = "服务内部错误"

GATEWAY_MESSAGES = {
    "1": INTERNAL_ERROR,
    "100": INTERNAL_ERROR,
    "500": INTERNAL_ERROR,
    "0001001": "rsa private decrypt error",
    "2001001": "app not exist",
    "2001002": "app secret not correct",
    "2001003": "access token is missing or expire",
    "2001004": "api not authorized",
    "2001005": "access token not match",
    "2001006": "api sign not correct",
    "2001007": "api sign has expired",
    "2001008": "refresh token expired",
    "2001009": "refresh token invalid",
    "3001001": "missing query param(access_token,sign,timestamp,app_key)",
    "3001002": "ip not permit, add ip to white list",
    "3001008": "requests too frequently",
    "400": "400 BAD_REQUEST",
    "401": "app id disabled",
    "403": "authorization expired",
    "404": "404 NOT_FOUND",
    "405": "405 METHOD_NOT_ALLOWED",
}
BUSINESS_MESSAGES = {102: "参数不合法", 103: "请求过于频繁"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    content_type: str = ""


@dataclass
class Answer:
    status: int
    body: bytes
    code: str
    """What stats count it under: the envelope code, or http_5xx / non_json / dropped."""
    content_type: str = "application/json;charset=UTF-8"
    drop: bool = False
    close: bool = False


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def gateway_answer(code: str, message: str | None = None, *, status: int = 200, close: bool = False) -> Answer:
    """The gateway's envelope: a string code and `msg` (docs/lingxing-openapi.md, error codes)."""
    msg = message or GATEWAY_MESSAGES.get(code, "error")
    return Answer(status, json_bytes({"code": code, "msg": msg, "data": None}), code, close=close)


def business_answer(
    data: Any, *, now: float, number: int, code: int = 0, message: str | None = None, **extra: Any
) -> Answer:
    """The business envelope: an int code, `message`, `request_id` and `response_time` (Beijing time at `now`)."""
    envelope = {
        "code": code,
        "message": message or BUSINESS_MESSAGES.get(code, "操作成功"),
        "request_id": f"{uuid.uuid4().hex}.151.{number:016d}",
        "response_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now + 8 * 3600)),
        "data": data,
        **extra,
    }
    return Answer(200, json_bytes(envelope), str(code))


def http_date(now: float) -> str:
    """The `Date` header the gateway sends at `now` (its own clock)."""
    return formatdate(now, usegmt=True)


def timestamp_expired(timestamp: str, now: float, ttl: float) -> bool:
    """2001007: not ten digits, or further than `ttl` seconds from the gateway's clock."""
    return not (timestamp.isdigit() and len(timestamp) == 10) or abs(now - int(timestamp)) > ttl


def sign_matches(expected: str, sent: str) -> bool:
    """The sign as decoded from the query, or, when it still holds `%`, decoded once more.

    Published clients URL-encode the sign themselves and their HTTP library encodes the query again (`+` arrives
    as `%252B`); they are used against the real gateway, which evidently accepts that. A wrong sign stays wrong
    however often it is decoded.
    """
    if hmac.compare_digest(expected.encode(), sent.encode()):
        return True
    return "%" in sent and hmac.compare_digest(expected.encode(), unquote(sent).encode())


def form_fields(request: Request) -> dict[str, str]:
    """The token endpoints' fields: multipart/form-data (values arrive raw, not URL-decoded) or urlencoded."""
    content_type = request.content_type.lower()
    if not request.body:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    found: dict[str, str] = {}
    if not message.is_multipart():
        return found
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            found.setdefault(name, payload.decode("utf-8", "replace"))
    return found
