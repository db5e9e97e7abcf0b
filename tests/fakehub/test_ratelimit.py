"""Rate limits: RateLimit headers on every response, separate buckets, 429 with the reset time."""

from __future__ import annotations

import re
import urllib.request

import pytest
from hubcensus.fakehub.ratelimit import RateLimiter
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError


def test_headers_on_every_response(fakehub_server) -> None:
    hub = fakehub_server(synthetic=50, seed=1, quota_api=100, quota_resolvers=7, window_s=60)
    mid = next(hub.catalog.ids())
    for path, bucket, q in (
        ("/api/models?limit=2", "api", 100),
        (f"/api/models/{mid}", "api", 100),
        (f"/{mid}/resolve/main/config.json", "resolvers", 7),
    ):
        with urllib.request.urlopen(hub.url + path) as r:
            assert re.fullmatch(rf'"{bucket}";r=\d+;t=\d+', r.headers["RateLimit"])
            assert r.headers["RateLimit-Policy"] == f'"fixed window";"{bucket}";q={q};w=60'
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(hub.url + "/api/models/nobody/nothing")
    assert e.value.headers["RateLimit"].startswith('"api";r=97;')
    snap = hub.stats.snapshot()
    assert snap["by_bucket"] == {"api": 3, "resolvers": 1, "cdn": 0}


def test_quota_two_then_429_with_reset(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=50, seed=1, quota_api=2, window_s=120)
    api = HfApi(endpoint=hub.url)
    mid = next(hub.catalog.ids())
    api.model_info(mid)
    api.model_info(mid)
    with pytest.raises(HfHubHTTPError) as e:
        api.model_info(mid)
    resp = e.value.response
    assert resp.status_code == 429
    m = re.fullmatch(r'"api";r=0;t=(\d+)', resp.headers["RateLimit"])
    assert m and 0 < int(m.group(1)) <= 120
    assert resp.headers["Retry-After"] == m.group(1)
    assert "rate limit" in str(e.value) and f"Retry after {m.group(1)} seconds" in str(e.value)
    # the resolvers bucket is separate
    assert api.file_exists(mid, "config.json")
    assert hub.stats.snapshot()["429s"] == 1
    hub.set_quotas(api=10)
    api.model_info(mid)


def test_fixed_window_resets() -> None:
    now = [0.0]
    lim = RateLimiter({"api": 2}, window_s=10, clock=lambda: now[0])
    assert [lim.take("api", "ip").allowed for _ in range(3)] == [True, True, False]
    v = lim.take("api", "ip")
    assert (v.remaining, v.reset_s) == (0, 10)
    now[0] = 7.5
    assert lim.take("api", "ip").reset_s == 3
    assert lim.take("api", "other-ip").allowed
    now[0] = 10.0
    v = lim.take("api", "ip")
    assert v.allowed and v.remaining == 1 and v.reset_s == 10
