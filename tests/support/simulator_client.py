"""A plain `requests` client for the simulator: its suite must not depend on the hook that it serves."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote_plus, urlencode

import requests

from airflow_provider_lingxing.api import endpoints, signing
from airflow_provider_lingxing.testing.simulator import LingxingSimulator

NA_SELLER = "A1SIMNA0000001"
NA_MARKETPLACE = "ATVPDKIKX0DER"


def order(order_id: int, tracking_no: str = "1Z999", **changes: Any) -> dict[str, Any]:
    """One valid order_list entry of submitFulfillment."""
    entry = {
        "id": order_id,
        "platform_order_no": f"111-{order_id:07d}-0000000",
        "tracking_no": tracking_no,
        "carrier_code": "UPS",
        "carrier_name": "UPS",
        "shipping_service": "",
        "order_item": [{"order_item_no": f"item-{order_id}", "quantity": 1}],
    }
    entry.update(changes)
    return entry


def submission(*orders: dict[str, Any], seller_id: str = NA_SELLER, **changes: Any) -> dict[str, Any]:
    body = {
        "region": "NA",
        "seller_id": seller_id,
        "marketplace_id": NA_MARKETPLACE,
        "order_list": list(orders) or [order(1)],
    }
    body.update(changes)
    return body


class Client:
    """Signs and sends calls the way the documentation says, with knobs to get each part wrong.

    `sign_quoted=True` URL-encodes the sign before the query is encoded (so twice), as the published
    `lingxingapi` clients do. `verify`: the CA file of an HTTPS simulator (passed on every request, so the
    environment's REQUESTS_CA_BUNDLE cannot override it as it overrides `Session.verify`).
    """

    def __init__(
        self,
        sim: LingxingSimulator,
        app_id: str | None = None,
        app_secret: str | None = None,
        *,
        sign_quoted: bool = False,
        verify: str | bool = True,
    ) -> None:
        self.sim = sim
        self.app_id = app_id or sim.app_id
        self.app_secret = app_secret or sim.app_secret
        self.sign_quoted = sign_quoted
        self.verify = verify
        self.session = requests.Session()
        self._token: str | None = None

    def url(self, path: str) -> str:
        return self.sim.base_url + path

    def fetch_token(self, **fields: str) -> requests.Response:
        """The access-token endpoint with multipart form fields (the documented way)."""
        form = {"appId": self.app_id, "appSecret": self.app_secret, **fields}
        return self.session.post(
            self.url(endpoints.ACCESS_TOKEN.path),
            files={k: (None, v) for k, v in form.items()},
            timeout=5,
            verify=self.verify,
        )

    def token(self) -> str:
        if self._token is None:
            answer = self.fetch_token().json()
            assert answer["code"] == "200", answer
            self._token = answer["data"]["access_token"]
        return self._token

    def signed_url(
        self,
        path: str,
        body: dict[str, Any],
        *,
        method: str,
        token: str | None = None,
        timestamp: str | None = None,
        query: dict[str, str] | None = None,
    ) -> str:
        token = token or self.token()
        timestamp = timestamp or str(int(time.time()))
        signed = signing.signed_query(body, app_id=self.app_id, access_token=token, timestamp=timestamp)
        if self.sign_quoted:
            signed["sign"] = quote_plus(signed["sign"])
        if method == "GET":
            signed = {**{k: signing.sign_value(v) for k, v in body.items()}, **signed}
        signed.update(query or {})
        return f"{self.url(path)}?{urlencode({k: v for k, v in signed.items() if v is not None})}"

    def call(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: str | None = None,
        token: str | None = None,
        timestamp: str | None = None,
        query: dict[str, str] | None = None,
        raw_body: bytes | None = None,
        timeout: float = 5,
    ) -> requests.Response:
        """A signed business call; `query` overrides the gateway parameters after signing."""
        method = method or endpoints.endpoint_for(path).method
        body = body or {}
        url = self.signed_url(path, body, method=method, token=token, timestamp=timestamp, query=query)
        data = raw_body if raw_body is not None else (signing.encode_body(body) if method == "POST" else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return self.session.request(method, url, data=data, headers=headers, timeout=timeout, verify=self.verify)

    def ok(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """The `data` of a call that must succeed."""
        answer = self.call(path, body, **kwargs).json()
        assert answer["code"] == 0, answer
        return answer["data"]

    def submit(self, body: dict[str, Any], **kwargs: Any) -> str:
        return self.ok(endpoints.SUBMIT_FULFILLMENT.path, body, **kwargs)["task_id"]

    def results(self, task_ids: list[Any], seller_id: str = NA_SELLER, **kwargs: Any) -> list[dict[str, Any]]:
        body = {"seller_id": seller_id, "task_id": task_ids}
        return self.ok(endpoints.GET_FULFILLMENT_RESULT.path, body, **kwargs)
