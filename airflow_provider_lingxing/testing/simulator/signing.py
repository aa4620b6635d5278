"""The simulator's own sign check, written from docs/lingxing-openapi.md apart from the client's `api/signing.py`.

Both are held to the same independent vectors (`shared/sign_vectors.json`): a misreading in either fails there
instead of going unseen in every simulator test, as it would if the simulator checked signs with the client's code.
"""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY_SIZES = (16, 24, 32)
"""The app id is the AES key: 16, 24 or 32 bytes."""

_PADDING_BLOCK = bytes([16]) * 16
"""The digest is 32 ASCII bytes (two AES blocks), so PKCS#5 always appends one whole block of 0x10."""


def text_of(value: Any) -> str:
    """A value as written in the signed string: a string as it is, anything else as compact sorted-key JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def string_to_sign(params: Mapping[str, Any]) -> str:
    """`k1=v1&k2=v2…` in ASCII order of the keys; a None or empty-string value is left out."""
    return "&".join(f"{key}={text_of(params[key])}" for key in sorted(params) if params[key] not in (None, ""))


def digest(text: str) -> str:
    """MD5 of the UTF-8 bytes, hex, upper case."""
    return hashlib.md5(text.encode()).hexdigest().upper()


@lru_cache(maxsize=64)
def _cipher(app_id: str) -> Cipher[modes.ECB]:
    key = app_id.encode()
    if len(key) not in AES_KEY_SIZES:
        raise ValueError(f"app id must be 16, 24 or 32 bytes to be an AES key, got {len(key)}")
    return Cipher(algorithms.AES(key), modes.ECB())


def encrypt(digest_text: str, app_id: str) -> str:
    """AES/ECB/PKCS#5 of the digest with the app id as key, base64."""
    encryptor = _cipher(app_id).encryptor()
    return b64encode(encryptor.update(digest_text.encode() + _PADDING_BLOCK) + encryptor.finalize()).decode()


def expected_sign(business: Mapping[str, Any], *, app_id: str, access_token: str, timestamp: str) -> str:
    """The sign a correct client sends for these business parameters (before URL-encoding)."""
    params = {**business, "access_token": access_token, "app_key": app_id, "timestamp": timestamp}
    return encrypt(digest(string_to_sign(params)), app_id)
