"""Pacing and retry policy with a fake clock: even spending, 429 waits, conservative start, backoff."""

from __future__ import annotations

import random
import threading

from hubcensus.crawler.pacing import (
    Pacer,
    Policy,
    RateLimit,
    RetryPolicy,
    parse_policy,
    parse_ratelimit,
    parse_retry_after,
    rate_limit_wait,
)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 64.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def _headers(r: int, t: float, q: int = 500, w: int = 300, bucket: str = "api") -> dict[str, str]:
    return {
        "RateLimit": f'"{bucket}";r={r};t={t:g}',
        "RateLimit-Policy": f'"fixed window";"{bucket}";q={q};w={w}',
    }


def test_parse_headers() -> None:
    assert parse_ratelimit('"api";r=499;t=42') == RateLimit("api", 499, 42.0)
    assert parse_ratelimit('"resolvers";r=0;t=3') == RateLimit("resolvers", 0, 3.0)
    assert parse_ratelimit("garbage") is None
    assert parse_ratelimit(None) is None
    assert parse_policy('"fixed window";"api";q=500;w=300') == Policy("api", 500, 300.0)
    assert parse_policy('"fixed window";"resolvers";q=3000;w=300') == Policy("resolvers", 3000, 300.0)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert rate_limit_wait({"ratelimit": '"api";r=0;t=55', "Retry-After": "9"}) == 55.0
    assert rate_limit_wait({"RateLimit": '"api";r=3;t=55', "Retry-After": "9"}) == 9.0
    assert rate_limit_wait({}) is None


def test_first_request_is_free_then_conservative_until_an_answer() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, initial_interval=0.625)
    assert pacer.acquire("api") == 0
    assert pacer.acquire("api") == 0.625
    assert clock.slept == [0.625]


def test_quota_is_spread_evenly_over_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, reserve=1)
    pacer.acquire("api")
    pacer.observe("api", _headers(r=11, t=10))  # 10 usable requests over 10 s -> one per second
    for _ in range(3):
        pacer.acquire("api")
        clock.now += 0.25  # the request's own latency counts toward the spacing
        pacer.observe("api", _headers(r=11, t=10))
    assert clock.slept == [1.0, 0.75, 0.75]


def test_exhausted_window_waits_for_the_reset_and_buckets_are_independent() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, reserve=1, margin=0.5)
    pacer.acquire("api")
    pacer.observe("api", _headers(r=1, t=20))
    assert pacer.acquire("resolvers") == 0
    assert pacer.acquire("api") == 20.5
    assert pacer.snapshot("api") == (RateLimit("api", 1, 20.0), Policy("api", 500, 300.0))


def test_no_headers_means_no_pacing_and_429_penalizes() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    pacer.acquire("api")
    pacer.observe("api", {})
    assert [pacer.acquire("api") for _ in range(3)] == [0, 0, 0]
    pacer.penalize("api", 30)
    assert pacer.acquire("api") == 30


def test_pacer_is_thread_safe_slots_never_collide() -> None:
    clock = FakeClock()
    lock = threading.Lock()
    slots: list[float] = []
    pacer = Pacer(clock=lambda: 0.0, sleep=lambda s: None, initial_interval=0.5)

    def worker() -> None:
        for _ in range(25):
            pacer.acquire("api")
            with lock:
                slots.append(pacer._buckets["api"].last_sent or 0.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now == 64.0
    assert len(slots) == 100
    assert pacer._buckets["api"].next_at == 50.0


def test_backoff_is_capped_exponential_with_seeded_jitter() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [policy.delay(k) for k in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    again = RetryPolicy(base=1.0, cap=8.0, rng=random.Random(7))
    assert [again.delay(k) for k in range(6)] == delays
