"""Seeded faults: the random draws that replace, slow or drop an answer, and the scripted `fail_with_code`."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from airflow_provider_lingxing.testing.simulator.config import ANSWER_FAULTS, BUSINESS_ONLY_FAULTS, SimulatorConfig
from airflow_provider_lingxing.testing.simulator.gateway import BUSINESS_MESSAGES, Answer, gateway_answer

_HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class Faults:
    """Draws come from `random.Random(seed)` in arrival order; thread-safe."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self.config.seed)

    def applies_to(self, path: str) -> bool:
        return self.config.fault_paths is None or path in self.config.fault_paths

    def draw(self, path: str, *, business: bool) -> tuple[str | None, bool]:
        """(the fault replacing or dropping the answer, or None; whether the answer is slow)."""
        cfg = self.config
        if not self.applies_to(path):
            return None, False
        with self._lock:
            draw, slow_draw = self._rng.random(), self._rng.random()
        for name in ANSWER_FAULTS:
            if not business and name in BUSINESS_ONLY_FAULTS:
                continue
            draw -= getattr(cfg, f"{name}_probability")
            if draw < 0:
                return name, slow_draw < cfg.slow_probability
        return None, slow_draw < cfg.slow_probability

    def replacement(self, fault: str, business_answer: Callable[[int], Answer]) -> Answer | None:
        """The answer a drawn fault puts in place of the real one (None: the fault is a drop)."""
        if fault.startswith("http_"):
            status = int(fault[5:])
            page = f"<html><body><h1>{status} {_HTTP_REASONS[status]}</h1></body></html>".encode()
            return Answer(status, page, fault, content_type="text/html")
        if fault == "non_json":
            page = b"<html><body>Please wait while we check your request</body></html>"
            return Answer(200, page, fault, content_type="text/html")
        if fault == "limiter_103":
            return business_answer(103)
        if fault == "sign_expired":
            return gateway_answer("2001007")
        if fault == "bucket_full":
            return gateway_answer("3001008")
        return None

    def scripted(self, path: str) -> str | None:
        """The `fail_with_code` this business call gets, if any; each one counts `fail_times` down."""
        cfg = self.config
        if cfg.fail_with_code is None or not self.applies_to(path):
            return None
        with self._lock:
            if cfg.fail_times is not None:
                if cfg.fail_times <= 0:
                    return None
                cfg.fail_times -= 1
        return cfg.fail_with_code

    def scripted_answer(self, code: str, business_answer: Callable[[int, str | None], Answer]) -> Answer:
        """102 and 103 come in the business envelope, every other code in the gateway's."""
        if code.isdigit() and int(code) in BUSINESS_MESSAGES:
            return business_answer(int(code), self.config.fail_message)
        return gateway_answer(code, self.config.fail_message)
