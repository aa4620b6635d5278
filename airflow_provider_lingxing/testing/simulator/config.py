"""What the simulator does that a test may change: `SimulatorConfig`, its defaults and its checks."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from typing import Any

from airflow_provider_lingxing.testing.simulator.gateway import ROUTES
from airflow_provider_lingxing.testing.simulator.signing import AES_KEY_SIZES

HOST = "127.0.0.1"
DEFAULT_APP_ID = "ak_SimuLingxing1"
"""16 bytes (`ak_` + 13), so it is a valid AES-128 key like a real app id."""
DEFAULT_APP_SECRET = "SimU1at0r+Lingx/Secret0="
"""Contains `+`, `/` and `=`: a client that forgets to URL-encode it gets 0001001, as from the real service."""

ANSWER_FAULTS = ("http_500", "http_502", "http_503", "non_json", "limiter_103", "sign_expired", "drop", "bucket_full")
BUSINESS_ONLY_FAULTS = ("limiter_103", "sign_expired")


def default_sellers() -> list[dict[str, Any]]:
    """Two authorised stores, one in NA and one in EU."""
    return [
        {
            "sid": 101,
            "mid": 1,
            "name": "Simulated US Store",
            "seller_id": "A1SIMNA0000001",
            "account_name": "sim-na",
            "seller_account_id": 1001,
            "region": "NA",
            "country": "美国",
            "has_ads_setting": 1,
            "marketplace_id": "ATVPDKIKX0DER",
            "status": 1,
        },
        {
            "sid": 102,
            "mid": 4,
            "name": "Simulated DE Store",
            "seller_id": "A1SIMEU0000002",
            "account_name": "sim-eu",
            "seller_account_id": 1002,
            "region": "EU",
            "country": "德国",
            "has_ads_setting": 0,
            "marketplace_id": "A1PA6795UKMFR9",
            "status": 1,
        },
    ]


def new_token(app_id: str) -> str:
    return str(uuid.uuid4())


def _cli(help_text: str, **extra: Any) -> dict[str, Any]:
    """Marks a field settable from the command line and over HTTP (POST /__simulator__/config)."""
    return {"help": help_text, **extra}


@dataclass
class SimulatorConfig:
    """Everything the simulator does that a test may want to change; mutate `sim.config` mid-run."""

    app_id: str = field(default=DEFAULT_APP_ID, metadata=_cli("the app id accepted (16, 24 or 32 bytes)"))
    app_secret: str = field(default=DEFAULT_APP_SECRET, metadata=_cli("its app secret"))
    extra_apps: dict[str, str] = field(default_factory=dict)
    """More app id → secret pairs; each app has its own tokens and buckets."""
    latency: float = field(default=0.02, metadata=_cli("seconds each API call takes while holding its slot"))
    endpoint_latency: dict[str, float] = field(default_factory=dict)
    capacities: dict[str, int] = field(default_factory=dict)
    """Overrides of the documented bucket capacities (gateway.ROUTES), by path."""
    token_ttl: float = field(default=7199.0, metadata=_cli("access token lifetime in seconds"))
    refresh_token_ttl: float = field(default=7200.0, metadata=_cli("refresh token lifetime in seconds"))
    single_token_per_app: bool = field(
        default=True, metadata=_cli("a new token invalidates the previous one of the app (2001005)")
    )
    rotate_token_every: int | None = field(
        default=None,
        metadata=_cli(
            "a competing client of the same app id fetches a new token after every N accepted business calls "
            "of that app, so the token in use then gets 2001005",
            type=int,
        ),
    )
    sign_ttl: float = field(default=120.0, metadata=_cli("seconds a sign stays valid around its timestamp"))
    clock_offset: float = field(
        default=0.0,
        metadata=_cli("seconds the gateway's clock is ahead of the host's (negative: behind); signs, Date, tokens"),
    )
    sellers: list[dict[str, Any]] = field(default_factory=default_sellers)
    complete_after_polls: int = field(default=2, metadata=_cli("a task completes on this poll of it"))
    complete_after_seconds: float | None = field(
        default=None, metadata=_cli("complete tasks after this age instead of by polls", type=float)
    )
    fail_task_ids: set[int] = field(default_factory=set)
    fail_task_predicate: Callable[[dict[str, Any]], bool] | None = None
    """Called with the submitted body; True makes the task end fatal."""
    seed: int | None = field(default=None, metadata=_cli("seed of the fault draws", type=int))
    http_500_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 500"))
    http_502_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 502"))
    http_503_probability: float = field(default=0.0, metadata=_cli("chance of an HTTP 503"))
    non_json_probability: float = field(default=0.0, metadata=_cli("chance of an HTML body with HTTP 200"))
    limiter_103_probability: float = field(default=0.0, metadata=_cli("chance of code 103 (business calls)"))
    sign_expired_probability: float = field(default=0.0, metadata=_cli("chance of 2001007 (business calls)"))
    drop_probability: float = field(default=0.0, metadata=_cli("chance the connection closes unanswered"))
    bucket_full_probability: float = field(
        default=0.0, metadata=_cli("chance of 3001008 as if another client held every slot of the bucket")
    )
    slow_probability: float = field(default=0.0, metadata=_cli("chance an answer takes slow_delay longer"))
    slow_delay: float = field(default=5.0, metadata=_cli("extra seconds of a slow answer"))
    fault_paths: set[str] | None = None
    """Paths the random faults and fail_with_code apply to; None: every documented path."""
    fail_with_code: str | None = field(
        default=None,
        metadata=_cli("business calls fail with this code (2001004, 3001002, 102, 1, 500…)", type=str),
    )
    fail_message: str | None = field(
        default=None, metadata=_cli("the message of fail_with_code (default: the code's usual one)", type=str)
    )
    fail_times: int | None = field(
        default=None,
        metadata=_cli("only this many more calls fail with fail_with_code, then all is normal (counts down)", type=int),
    )
    fail_after_work: bool = field(
        default=False, metadata=_cli("fail_with_code answers after the call did its work (a task was created)")
    )
    max_body_bytes: int = field(default=10 * 2**20, metadata=_cli("larger request bodies get HTTP 413"))
    clock: Callable[[], float] = time.time
    """The host's clock; the gateway reads it plus clock_offset."""
    token_factory: Callable[[str], str] = new_token
    """app id → a new access token; tests inject known tokens (e.g. the sign vectors')."""

    def apps(self) -> dict[str, str]:
        return {**self.extra_apps, self.app_id: self.app_secret}

    def capacity(self, path: str) -> int:
        return self.capacities.get(path, ROUTES[path].capacity)

    def latency_for(self, path: str) -> float:
        return self.endpoint_latency.get(path, self.latency)

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        for app_id in self.apps():
            if len(app_id.encode()) not in AES_KEY_SIZES:
                raise ValueError(f"app_id {app_id!r} must be 16, 24 or 32 bytes (it is the AES key of the sign)")
        probabilities = {name: getattr(self, f"{name}_probability") for name in (*ANSWER_FAULTS, "slow")}
        for name, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}_probability must be between 0 and 1, got {value}")
        if sum(probabilities[name] for name in ANSWER_FAULTS) > 1.0:
            raise ValueError("the fault probabilities (all but slow) must add up to at most 1")
        if self.complete_after_polls < 1:
            raise ValueError(f"complete_after_polls must be at least 1, got {self.complete_after_polls}")
        if self.rotate_token_every is not None and self.rotate_token_every < 1:
            raise ValueError(
                f"rotate_token_every must be at least 1 (None: no competing client), got {self.rotate_token_every}"
            )
        if self.fail_times is not None and self.fail_times < 0:
            raise ValueError(f"fail_times must be 0 or more (None: every call), got {self.fail_times}")
        for path in (*self.capacities, *self.endpoint_latency, *(self.fault_paths or ())):
            if path not in ROUTES:
                raise ValueError(f"unknown endpoint path {path!r}: expected one of {sorted(ROUTES)}")
        if self.fail_with_code is not None:
            self.fail_with_code = str(self.fail_with_code)


def settable_fields() -> dict[str, Field[Any]]:
    """The fields that can be changed over HTTP or from the CLI (those with a help text)."""
    return {f.name: f for f in fields(SimulatorConfig) if "help" in f.metadata}


def coerce(setting: Field[Any], value: Any) -> Any:
    """A settable value from JSON or the CLI, as the type its field declares; ValueError names it."""
    if value is None and setting.default is None:
        return None
    cast: type[Any] = setting.metadata.get("type") or type(setting.default)
    if cast is bool and not isinstance(value, bool):
        raise ValueError(f"{setting.name} must be true or false, got {value!r}")
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise ValueError(f"{setting.name} must be a {cast.__name__}, got {value!r}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
