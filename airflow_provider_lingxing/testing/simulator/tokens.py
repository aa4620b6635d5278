"""The token endpoints' memory: access and refresh tokens per app, one live token per app, the competing client."""

from __future__ import annotations

import hmac
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_lingxing.testing.simulator.config import SimulatorConfig
from airflow_provider_lingxing.testing.simulator.gateway import Answer, gateway_answer, json_bytes

SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


@dataclass
class _Token:
    app_id: str
    expires_at: float
    superseded: bool = False


@dataclass
class _RefreshToken:
    app_id: str
    expires_at: float
    used: bool = False


class TokenDesk:
    """Issues, refreshes and checks tokens; thread-safe. `now` is the gateway's clock."""

    def __init__(self, config: SimulatorConfig, now: Callable[[], float]) -> None:
        self.config = config
        self.now = now
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tokens: dict[str, _Token] = {}
            self._live_token: dict[str, str] = {}
            self._refresh_tokens: dict[str, _RefreshToken] = {}
            self._issued: dict[str, list[str]] = {"access": [], "refresh": []}
            self._counts = {"access": 0, "refresh": 0, "rotated": 0}
            self._fetches: Counter[str] = Counter()
            self._rotations: Counter[str] = Counter()
            self._accepted_since_rotation: Counter[str] = Counter()

    def access_token(self, app_id: str, secret: str) -> Answer:
        apps = self.config.apps()
        if app_id not in apps:
            return gateway_answer("2001001")
        if not hmac.compare_digest(secret.encode(), apps[app_id].encode()):
            return gateway_answer("0001001" if set(secret) - SECRET_ALPHABET else "2001002")
        with self._lock:
            self._counts["access"] += 1
            self._fetches[app_id] += 1
            return _token_answer(self._issue(app_id))

    def refresh(self, app_id: str, refresh_token: str) -> Answer:
        if app_id not in self.config.apps():
            return gateway_answer("2001001")
        with self._lock:
            record = self._refresh_tokens.get(refresh_token)
            if record is None or record.used or record.app_id != app_id:
                return gateway_answer("2001009")
            if record.expires_at <= self.now():
                return gateway_answer("2001008")
            record.used = True
            self._counts["refresh"] += 1
            self._fetches[app_id] += 1
            return _token_answer(self._issue(app_id))

    def check(self, access_token: str, app_id: str) -> str | None:
        """The gateway's token check of a business call: None when accepted, else the code.

        With `rotate_token_every=N`, the competing client fetches its own token right after every N-th accepted
        call of the app: calls already past this check finish, the next one with the old token gets 2001005.
        """
        with self._lock:
            token = self._tokens.get(access_token)
            if token is None:
                return "2001003"
            if token.app_id != app_id or token.superseded:
                return "2001005"
            if token.expires_at <= self.now():
                return "2001003"
            every = self.config.rotate_token_every
            if every is not None:
                self._accepted_since_rotation[app_id] += 1
                if self._accepted_since_rotation[app_id] >= every:
                    self._rotate(app_id)
            return None

    def rotate(self, app_id: str) -> str:
        """Issue a token as if another process had fetched one; returns it."""
        with self._lock:
            return self._rotate(app_id)

    def expire(self, app_id: str | None = None) -> None:
        with self._lock:
            now = self.now()
            for token in self._tokens.values():
                if app_id is None or token.app_id == app_id:
                    token.expires_at = min(token.expires_at, now - 1)

    def issued(self) -> dict[str, list[str]]:
        with self._lock:
            return {kind: list(tokens) for kind, tokens in self._issued.items()}

    def stats(self) -> dict[str, Any]:
        """tokens_issued {access, refresh, rotated}; token_fetches and tokens_rotated {app id: n}."""
        with self._lock:
            return {
                "tokens_issued": dict(self._counts),
                "token_fetches": dict(self._fetches),
                "tokens_rotated": dict(self._rotations),
            }

    def _rotate(self, app_id: str) -> str:
        """Called with the lock held."""
        self._counts["rotated"] += 1
        self._rotations[app_id] += 1
        self._accepted_since_rotation[app_id] = 0
        return str(self._issue(app_id)["access_token"])

    def _issue(self, app_id: str) -> dict[str, Any]:
        """Called with the lock held."""
        cfg = self.config
        now = self.now()
        if cfg.single_token_per_app and app_id in self._live_token:
            self._tokens[self._live_token[app_id]].superseded = True
        access_token = cfg.token_factory(app_id)
        refresh_token = str(uuid.uuid4())
        self._tokens[access_token] = _Token(app_id, now + cfg.token_ttl)
        self._live_token[app_id] = access_token
        self._refresh_tokens[refresh_token] = _RefreshToken(app_id, now + cfg.refresh_token_ttl)
        self._issued["access"].append(access_token)
        self._issued["refresh"].append(refresh_token)
        return {"access_token": access_token, "refresh_token": refresh_token, "expires_in": int(cfg.token_ttl)}


def _token_answer(data: dict[str, Any]) -> Answer:
    return Answer(200, json_bytes({"code": "200", "msg": "OK", "data": data}), "200")
