"""The Hub's fixed-window rate limits: separate `api` and `resolvers` buckets, per client IP."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against its bucket, and the headers that say so."""

    allowed: bool
    bucket: str
    remaining: int
    reset_s: int
    quota: int
    window_s: int

    def headers(self) -> dict[str, str]:
        """`RateLimit` and `RateLimit-Policy` (plus `Retry-After` when refused)."""
        h = {"RateLimit": f'"{self.bucket}";r={self.remaining};t={self.reset_s}',
             "RateLimit-Policy": f'"fixed window";"{self.bucket}";q={self.quota};w={self.window_s}'}
        if not self.allowed:
            h["Retry-After"] = str(self.reset_s)
        return h


class RateLimiter:
    """Fixed windows aligned on the limiter's start; counts per (bucket, client ip)."""

    def __init__(self, quotas: dict[str, int], window_s: int = 300, clock=time.monotonic) -> None:
        self.quotas = dict(quotas)
        self.window_s = window_s
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}

    def take(self, bucket: str, ip: str) -> Verdict:
        """Count one request; refuse it (allowed=False) once the window's quota is used."""
        quota = self.quotas[bucket]
        elapsed = self._clock() - self._t0
        win = int(elapsed // self.window_s)
        reset = max(0, math.ceil((win + 1) * self.window_s - elapsed))
        with self._lock:
            key = (bucket, ip, win)
            used = self._counts.get(key, 0)
            if used >= quota:
                return Verdict(False, bucket, 0, reset, quota, self.window_s)
            self._counts[key] = used + 1
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[2] >= win}
        return Verdict(True, bucket, quota - used - 1, reset, quota, self.window_s)

    def reset(self) -> None:
        """Forget all counts and start a new window now."""
        with self._lock:
            self._counts.clear()
            self._t0 = self._clock()
