"""Access-token state (docs/lingxing-openapi.md, tokens). Pure: no I/O here.

Lingxing keeps one live token per app id: every process that fetched its own would invalidate the
others'. So a token lives in a store shared by every process of a deployment (`tokens/`), and this module
decides from the clock alone whether a stored token is used as is, refreshed, or replaced.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REFRESH_MARGIN_SECONDS = 300
"""Refresh this long before expiry, so no call is signed with a token about to lapse in flight."""

TOKEN_STORE_KEY_PREFIX = "lingxing_token__"


@dataclass(frozen=True)
class AccessToken:
    """A token pair and when the access token expires (Unix seconds). repr hides the secrets."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    owner: str = ""
    """Fingerprint of (base URL, app id): a stored token of another app is never used."""

    @classmethod
    def from_response(cls, data: Any, *, now: float, owner: str = "") -> AccessToken:
        """The `data` of a token or refresh answer; raises ValueError if a field is missing."""
        if not isinstance(data, Mapping):
            raise ValueError("the token answer has no data object")
        try:
            access, refresh, expires_in = data["access_token"], data["refresh_token"], data["expires_in"]
            expires_in = float(expires_in)
        except (KeyError, TypeError, ValueError):
            raise ValueError("the token answer lacks access_token, refresh_token or expires_in") from None
        if not access or not refresh:
            raise ValueError("the token answer has an empty access_token or refresh_token")
        return cls(str(access), str(refresh), now + expires_in, owner)

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "owner": self.owner,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> AccessToken:
        """Raises ValueError for anything that is not a stored token."""
        try:
            value = json.loads(text)
            return cls(
                str(value["access_token"]),
                str(value["refresh_token"]),
                float(value["expires_at"]),
                str(value.get("owner", "")),
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ValueError("not a stored Lingxing token") from None


class TokenAction(enum.Enum):
    USE = "use"
    REFRESH = "refresh"
    FETCH = "fetch"


def token_action(token: AccessToken | None, *, now: float, owner: str) -> TokenAction:
    """What to do with a stored token: use it, refresh it shortly before expiry, or fetch a new one.

    An expired token is replaced rather than refreshed: its refresh token (valid as long) has lapsed too.
    """
    if token is None or token.owner != owner or now >= token.expires_at:
        return TokenAction.FETCH
    if now >= token.expires_at - REFRESH_MARGIN_SECONDS:
        return TokenAction.REFRESH
    return TokenAction.USE


def newer_than(stored: AccessToken | None, failed: AccessToken, *, now: float, owner: str) -> bool:
    """True if the store holds another live token than the one the server just refused (2001003/2001005)."""
    return (
        stored is not None
        and stored.access_token != failed.access_token
        and token_action(stored, now=now, owner=owner) is not TokenAction.FETCH
    )


def owner_fingerprint(base_url: str, app_id: str) -> str:
    """Names a token's app and server without revealing either (the app id is the sign's AES key). Every connection
    of one app id (at one Base URL, as every real deployment has) shares one store entry and one fetch lock, since
    Lingxing keeps one live token per app id; a stored token is only ever sent to the server that issued it."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{app_id}".encode()).hexdigest()[:16]


def app_fingerprint(app_id: str) -> str:
    """Names an app id without revealing it: its concurrency budget (Lingxing's bucket is per app id)."""
    return hashlib.sha256(app_id.encode()).hexdigest()[:16]


def store_key(owner: str) -> str:
    """One store entry per app id, e.g. the Airflow Variable `lingxing_token__<owner_fingerprint(...)>`."""
    return TOKEN_STORE_KEY_PREFIX + owner
