"""Seeded fault injection, deterministic per (method, path, attempt): latency, 5xx, drops, truncation."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass

from hubcensus.fakehub.rng import hash64, split3

FAIL_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class FaultConfig:
    """Rates are fractions of requests; `routes` limits faults to some route kinds (None = all)."""

    latency_ms: float = 0.0
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    seed: int = 0
    routes: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.fail_rate or self.drop_rate or self.truncate_rate)


class Faults:
    """Decides the fault of each request: the n-th attempt at a URL always gets the same fate."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()

    def set(self, config: FaultConfig) -> None:
        """Replace the fault configuration and forget attempt counts."""
        with self._lock:
            self.config = config
            self._attempts.clear()

    def decide(self, method: str, target: str, route: str) -> tuple[str | None, int]:
        """(None | 'fail' | 'drop' | 'truncate', status for 'fail') for one request."""
        c = self.config
        if not (c.fail_rate or c.drop_rate or c.truncate_rate) or (c.routes is not None and route not in c.routes):
            return None, 0
        key = f"{method} {target}"
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        u, v, _ = split3(hash64(c.seed, int(hashlib.sha1(key.encode()).hexdigest()[:15], 16), attempt))
        if u < c.fail_rate:
            return "fail", FAIL_STATUSES[int(v * len(FAIL_STATUSES))]
        if u < c.fail_rate + c.drop_rate:
            return "drop", 0
        if u < c.fail_rate + c.drop_rate + c.truncate_rate:
            return "truncate", 0
        return None, 0
