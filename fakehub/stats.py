"""Request accounting: counts by bucket, route kind, status class and injected fault."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

ROUTES = ("list", "model_info", "tree", "paths_info", "resolve_head", "resolve_get", "cdn_head", "cdn_get", "other")


class Stats:
    """Thread-safe counters read by tests and benchmarks (`snapshot()`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._c[key] += n

    def record(self, bucket: str, route: str, status: int, nbytes: int = 0) -> None:
        """Count one answered (or refused) request."""
        with self._lock:
            self._c["requests"] += 1
            self._c[f"bucket.{bucket}"] += 1
            self._c[f"route.{route}"] += 1
            self._c[f"status.{status}"] += 1
            self._c["bytes_sent"] += nbytes
            if status == 429:
                self._c["429s"] += 1

    def snapshot(self) -> dict[str, Any]:
        """{'requests', 'bytes_sent', '429s', 'by_bucket': {api, resolvers, cdn}, 'by_route': {...},
        'by_status': {code: n}, 'faults': {fail, drop, truncate}, 'cdn': {requests, with_authorization},
        'cdn_range': {ignored, body_bytes} (ranges the CDN answered 200 with the whole file)}."""
        with self._lock:
            c = dict(self._c)
        return {
            "requests": c.get("requests", 0),
            "bytes_sent": c.get("bytes_sent", 0),
            "429s": c.get("429s", 0),
            "by_bucket": {b: c.get(f"bucket.{b}", 0) for b in ("api", "resolvers", "cdn")},
            "cdn": {"requests": c.get("bucket.cdn", 0), "with_authorization": c.get("cdn.authorization", 0)},
            "cdn_range": {"ignored": c.get("cdn_range.ignored", 0), "body_bytes": c.get("cdn_range.body_bytes", 0)},
            "by_route": {r: c.get(f"route.{r}", 0) for r in ROUTES},
            "by_status": {int(k[7:]): v for k, v in c.items() if k.startswith("status.")},
            "faults": {f: c.get(f"fault.{f}", 0) for f in ("fail", "drop", "truncate")},
        }

    def reset(self) -> None:
        with self._lock:
            self._c.clear()
