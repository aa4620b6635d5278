"""Request signing (docs/lingxing-openapi.md, signing): canonical string → MD5 → AES-128/ECB/PKCS5 → base64."""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

VALID_APP_ID_BYTES = (16, 24, 32)


def drop_none(value: Any) -> Any:
    """Remove None-valued keys at every depth: they are neither signed nor sent."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def compact_json(value: Any) -> str:
    """The one serialisation used for nested sign values and for request bodies."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes sent as a POST body; its values are the ones that were signed."""
    return compact_json(body).encode()


def sign_value(value: Any) -> str:
    """A value as it is signed, and as it is sent in a GET query string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return compact_json(value)
    if isinstance(value, float):
        return json.dumps(value)
    return str(value)


def canonical_string(params: dict[str, Any]) -> str:
    """`k1=v1&k2=v2…` over keys sorted by ASCII, skipping None and empty-string values."""
    return "&".join(
        f"{key}={sign_value(params[key])}" for key in sorted(params) if params[key] is not None and params[key] != ""
    )


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest().upper()


def aes_base64(text: str, app_id: str) -> str:
    key = app_id.encode()
    if len(key) not in VALID_APP_ID_BYTES:
        raise ValueError(f"app id must be 16, 24 or 32 bytes to serve as an AES key, got {len(key)}")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def sign(business_params: dict[str, Any], *, app_id: str, access_token: str, timestamp: str) -> str:
    """The `sign` query parameter before URL-encoding."""
    params = {**business_params, "access_token": access_token, "app_key": app_id, "timestamp": timestamp}
    return aes_base64(md5_upper(canonical_string(params)), app_id)


def signed_query(business_params: dict[str, Any], *, app_id: str, access_token: str, timestamp: str) -> dict[str, str]:
    """The four gateway query parameters of a business call (values not yet URL-encoded)."""
    return {
        "access_token": access_token,
        "app_key": app_id,
        "timestamp": timestamp,
        "sign": sign(business_params, app_id=app_id, access_token=access_token, timestamp=timestamp),
    }
