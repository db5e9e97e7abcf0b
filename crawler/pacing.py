"""Rate limits and retries: parse the Hub's `RateLimit` headers, spend the quota evenly, back off.

Pure and thread-safe; the clock and the sleep are injectable so tests run instantly.
The Hub announces, on every response:

    RateLimit: "api";r=<remaining>;t=<seconds to reset>
    RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window seconds>
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Sleep = Callable[[float], None]
Clock = Callable[[], float]

RETRY_STATUSES = frozenset({408, 500, 502, 503, 504})
"""Statuses retried with backoff (429 is waited out separately)."""

_RATELIMIT = re.compile(r'"?(?P<bucket>[\w-]+)"?\s*;\s*r=(?P<r>\d+)\s*;\s*t=(?P<t>\d+(?:\.\d+)?)')
_POLICY = re.compile(r'"?(?P<bucket>[\w-]+)"?\s*;\s*q=(?P<q>\d+)\s*;\s*w=(?P<w>\d+(?:\.\d+)?)')


@dataclass(frozen=True)
class RateLimit:
    """One `RateLimit` header: requests left in the window and seconds until it resets."""

    bucket: str
    remaining: int
    reset: float


@dataclass(frozen=True)
class Policy:
    """One `RateLimit-Policy` header: `quota` requests per `window` seconds."""

    bucket: str
    quota: int
    window: float


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_ratelimit(value: str | None) -> RateLimit | None:
    """'"api";r=499;t=42' -> RateLimit('api', 499, 42.0); None if absent or malformed."""
    match = _RATELIMIT.search(value or "")
    if not match:
        return None
    return RateLimit(match["bucket"], int(match["r"]), float(match["t"]))


def parse_policy(value: str | None) -> Policy | None:
    """'"fixed window";"api";q=500;w=300' -> Policy('api', 500, 300.0); None if absent or malformed."""
    match = _POLICY.search(value or "")
    if not match:
        return None
    return Policy(match["bucket"], int(match["q"]), float(match["w"]))


def parse_retry_after(value: str | None) -> float | None:
    """A numeric `Retry-After` in seconds (HTTP dates are not used by the Hub)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks us to wait: `RateLimit` t= when r=0, else `Retry-After`."""
    limit = parse_ratelimit(_header(headers, "ratelimit"))
    if limit is not None and limit.remaining == 0:
        return limit.reset
    return parse_retry_after(_header(headers, "retry-after"))


@dataclass
class _Bucket:
    next_at: float = 0.0
    interval: float | None = None  # None: nothing observed yet
    last_sent: float | None = None
    policy: Policy | None = None
    limit: RateLimit | None = None


@dataclass
class Pacer:
    """Per-bucket pacing that spreads the remaining quota evenly over the rest of the window.

    `acquire(bucket)` blocks until the bucket's next slot; `observe(bucket, headers)`
    re-plans from the answer. Before the first answer, requests are spaced by
    `initial_interval` (the anonymous 500/300 s by default). Without rate-limit
    headers the pace is free. With `r` left and `t` seconds to reset, requests go
    every `t / (r - reserve)` seconds after the last one sent; with nothing left, the
    next request waits for the reset (plus `margin`).
    """

    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    initial_interval: float = 300 / 500
    reserve: int = 1
    margin: float = 0.5
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _bucket(self, name: str) -> _Bucket:
        return self._buckets.setdefault(name, _Bucket())

    def acquire(self, bucket: str) -> float:
        """Wait for `bucket`'s next slot; returns the seconds slept."""
        with self._lock:
            state = self._bucket(bucket)
            now = self.clock()
            slot = max(now, state.next_at)
            state.last_sent = slot
            spacing = self.initial_interval if state.interval is None else state.interval
            state.next_at = slot + spacing
        wait = slot - now
        if wait > 0:
            self.sleep(wait)
        return wait

    def observe(self, bucket: str, headers: Mapping[str, str]) -> None:
        """Re-plan `bucket` from a response's `RateLimit` / `RateLimit-Policy` headers."""
        limit = parse_ratelimit(_header(headers, "ratelimit"))
        policy = parse_policy(_header(headers, "ratelimit-policy"))
        with self._lock:
            state = self._bucket(bucket)
            now = self.clock()
            if policy is not None:
                state.policy = policy
            state.limit = limit
            if limit is None:
                state.interval = 0.0
                state.next_at = min(state.next_at, now)
                return
            usable = limit.remaining - self.reserve
            if usable <= 0:
                state.interval = 0.0
                state.next_at = max(state.next_at, now + limit.reset + self.margin)
                return
            state.interval = limit.reset / usable
            base = state.last_sent if state.last_sent is not None else now
            state.next_at = base + state.interval

    def penalize(self, bucket: str, seconds: float) -> None:
        """A 429: nothing goes out on `bucket` for `seconds` (plus `margin`)."""
        with self._lock:
            state = self._bucket(bucket)
            state.next_at = max(state.next_at, self.clock() + seconds + self.margin)

    def snapshot(self, bucket: str) -> tuple[RateLimit | None, Policy | None]:
        """The last `RateLimit` and `RateLimit-Policy` seen on `bucket`."""
        with self._lock:
            state = self._bucket(bucket)
            return state.limit, state.policy


@dataclass
class RetryPolicy:
    """Capped exponential backoff with equal jitter: attempt k waits in [d/2, d], d = min(cap, base·2^k)."""

    retries: int = 5
    base: float = 1.0
    cap: float = 30.0
    rate_limit_waits: int = 8
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
