"""What one crawl did: the counters of its `crawl_runs` row and its one-line summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hubcensus.db.store import RUN_COUNTERS


@dataclass
class CrawlSummary:
    """What a crawl did (mirrors its `crawl_runs` row)."""

    run_id: int
    mode: str
    endpoint: str
    status: str = "running"
    resumed: bool = False
    pages: int = 0
    models_seen: int = 0
    models_new: int = 0
    models_updated: int = 0
    models_deleted: int = 0
    models_renamed: int = 0
    headers_fetched: int = 0
    gated_skipped: int = 0
    headers_left: int = 0
    requests_api: int = 0
    requests_resolvers: int = 0
    rate_limited: int = 0
    retries: int = 0
    errors: int = 0
    range_ignored: int = 0
    watermark: datetime | None = None
    message: str | None = None
    elapsed: float = 0.0
    complete: bool = False

    def counters(self) -> dict[str, Any]:
        """The `crawl_runs` columns of this summary."""
        keys = (*RUN_COUNTERS, "watermark")
        return {k: v for k, v in asdict(self).items() if k in keys}

    def line(self) -> str:
        """The one-line summary a CLI prints last."""
        mode = f"{self.mode}{' (resumed)' if self.resumed else ''}"
        text = (
            f"run {self.run_id} {self.status}: {mode}, {self.pages} pages, {self.models_seen} models seen "
            f"({self.models_new} new, {self.models_updated} updated, {self.models_renamed} renamed, "
            f"{self.models_deleted} no longer public), "
            f"{self.requests_api} API requests, {self.rate_limited} rate-limited, {self.retries} retries, "
            f"{self.errors} errors in {self.elapsed:.1f}s"
        )
        if self.headers_fetched or self.requests_resolvers:
            text += f"; header pass: {self.headers_fetched} models' headers, {self.requests_resolvers} resolver requests"
        if self.headers_left:
            text += f"; {self.headers_left} models' headers left for the next run (time budget)"
        if self.range_ignored:
            text += f"; {self.range_ignored} range reads answered with the whole file (200), read only in part"
        if self.gated_skipped:
            text += f"; {self.gated_skipped} gated models skipped (no token)"
        return f"{text}: {self.message}" if self.message else text
