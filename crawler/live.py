"""One model read from the Hub now, into a throwaway database (what `hubcensus explain --live` uses).

The run ledger of that database is driven here, not by the CLI; the user's database is never
touched.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hubcensus.crawler.deep import read_one
from hubcensus.crawler.hub import HubClient, version
from hubcensus.crawler.walk.listing import EXPAND
from hubcensus.db import store
from hubcensus.db.connection import open_database

T = TypeVar("T")


def read_live(client: HubClient, model_id: str, use: Callable[[Path], T]) -> T:
    """Read `model_id`'s listing entry and headers into a temporary database, return `use(path)`.

    Raises `HubError` when the Hub refuses (404 no such model, 401/403 gated or private).
    """
    with tempfile.TemporaryDirectory(prefix="hubcensus-live-") as tmp:
        path = Path(tmp) / "live.duckdb"
        with open_database(path) as db:
            run = store.start_run(db, mode="explain", endpoint=client.endpoint, version=version())
            status, stored = "failed", 0
            try:
                summary: Any = read_one(db, client, model_id, run_id=run, expand=(*EXPAND, "siblings"))
                status, stored = "ok", summary.stored
            finally:
                store.finish_run(db, run, status=status, counters={"headers_fetched": stored})
        return use(path)
