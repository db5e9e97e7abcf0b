"""One crawl of the Hub listing into the database: mode, page loop, checkpoint, watermark, ledger.

- full: `sort=createdAt` (stable), the cursor is checkpointed with every stored page
  (same transaction), a killed walk resumes where it stopped, and models not seen
  are marked deleted only when the walk completes.
- incremental: `sort=lastModified` (newest first), stops at the page that reaches
  below the last successful run's high-water mark minus `overlap`. With no
  watermark (an empty database) the crawl is a full walk; an unfinished full walk
  is always resumed first.
- scheduled full walk: when the last completed full walk is older than
  `full_every` (default 7 days; never recorded counts as older), the run is a
  full walk. Only a full walk sees renames of models that did not change and
  models that are no longer public, so this keeps the census true over weeks.

Pages hold what the Hub gives (the real Hub may answer `limit=1000` with 7 items):
nothing here counts on a page being full; a walk ends when a page has no `next` link.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hubcensus.crawler.hub import (
    CrawlInterrupted,
    EndpointUnreachable,
    HubClient,
    HubError,
    Page,
    short_url,
    version,
)
from hubcensus.crawler.run_summary import CrawlSummary
from hubcensus.crawler.walk.listing import EXPAND, normalize, parse_hub_date
from hubcensus.crawler.walk.prefetch import Fetched, fetch_rounds, prefetch
from hubcensus.db import listing_store, store
from hubcensus.db.connection import Database, utcnow
from hubcensus.db.disk import DiskProblem, disk_problem

DONE = "done"
"""Cursor value of a full walk whose last page is stored but which is not yet finalized."""


@dataclass(frozen=True)
class CrawlOptions:
    """What to crawl and how."""

    full: bool = False
    limit: int | None = None
    author: str | None = None
    page_size: int = 1000
    overlap: timedelta = timedelta(minutes=10)
    deep: str = "none"
    deep_minutes: float | None = None
    """Time budget of the header pass; what it does not reach is read first by the next run."""
    full_every: timedelta | None = timedelta(days=7)
    """A run whose last completed full walk is older than this does (or resumes) one (0: this run;
    None: only `full`, an empty database or an unfinished walk make a full walk)."""
    page_rounds: int = 3
    """How many times a listing page that failed after all retries is tried again before the run fails."""
    batch_pages: int = 5
    """Pages fetched ahead of the store, stored together when the store falls behind."""
    merge_rows: int = 50_000
    """Staged listing rows that trigger a merge into `models` (the end of a walk always merges)."""
    memory_limit_mb: int | None = 512
    """DuckDB's memory_limit for the crawl (None: DuckDB's default, 80% of RAM). It caps the buffer
    cache, which otherwise keeps every block it read: a 2M-model walk peaked at 1.1 GB uncapped,
    650 MB at 400 MB."""
    label: str | None = None
    """What the data is, when it is not the Hub (the demo: 'demo data from a synthetic Hub'); kept in
    crawl_state as `dataset.label`, and reports say it at the top."""


ProgressHook = Callable[[CrawlSummary], None]
HeaderHook = Callable[[CrawlSummary, Any], None]
"""Called after every model of the header pass with the run's summary and the `DeepSummary`."""
DeepHook = Callable[[Database, HubClient, CrawlSummary], None]


def _keys(author: str | None) -> dict[str, str]:
    prefix = f"author:{author}:" if author else ""
    names = ("watermark", "full.cursor", "full.started_at", "full.max_modified", "full.completed_at")
    return {name: prefix + name for name in names}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def _with_limit(url: str, limit: int) -> str:
    """A stored cursor URL with its page size replaced (a resumed run may use another --limit)."""
    parts = urlsplit(url)
    query = [
        (k, str(limit) if k == "limit" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, enabled: bool) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop` (the run then ends 'interrupted' after the page in flight)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _deep_default(
    db: Database,
    client: HubClient,
    summary: CrawlSummary,
    options: CrawlOptions,
    on_header: HeaderHook | None = None,
) -> None:
    """The header pass, `crawler.deep.run_deep` (imported only when asked for).

    The run's counters follow the pass as it goes (stored batches are written to the ledger), so
    an interrupted or killed pass leaves the ledger with what was really stored.
    """
    from hubcensus.crawler.deep import run_deep

    base_fetched, base_errors = summary.headers_fetched, summary.errors
    seen: list[Any] = []
    written = [0]

    def follow(result: Any) -> None:
        if not seen:
            seen.append(result)
        summary.headers_fetched = base_fetched + result.stored
        summary.errors = base_errors + result.failed + result.unreadable
        summary.__dict__.update(client.counters())
        if result.stored != written[0]:  # a batch was just stored: the ledger says so in the same window
            written[0] = result.stored
            store.update_run(db, summary.run_id, summary.counters())
        if on_header is not None:
            on_header(summary, result)

    try:
        result = run_deep(
            db, client, run_id=summary.run_id, selection=options.deep, minutes=options.deep_minutes,
            memory_mb=options.memory_limit_mb, on_model=follow,
        )  # fmt: skip
    finally:
        if seen:  # interrupted: what the pass stored before the stop counts (the ledger is closed next)
            summary.headers_fetched = base_fetched + seen[0].stored
            summary.errors = base_errors + seen[0].failed + seen[0].unreadable
    summary.headers_left += result.left
    summary.headers_fetched = base_fetched + result.stored
    summary.gated_skipped += result.gated_skipped
    summary.errors = base_errors + result.failed + result.unreadable


@dataclass
class _Walk:
    """The moving parts of one page loop: a fetch thread runs ahead of the store."""

    db: Database
    client: HubClient
    options: CrawlOptions
    summary: CrawlSummary
    seen_at: datetime
    on_page: ProgressHook | None
    keys: dict[str, str] = field(default_factory=dict)
    staged: int = 0

    def collect(self, fetched: Fetched) -> Page:
        """The page of a finished fetch; every round's final failure goes to fetch_errors."""
        if fetched.error is not None:
            raise fetched.error
        for exc in fetched.failures:
            self.summary.errors += 1
            store.record_error(
                self.db, self.summary.run_id, model_id=None, target=exc.target, kind=exc.kind,
                status=exc.status, message=str(exc),
            )  # fmt: skip
        if fetched.page is None:
            raise fetched.failures[-1]
        return fetched.page

    def batches(self, url: str, more: Callable[[list[dict[str, Any]]], bool]) -> Iterator[list[Page]]:
        """Pages from `url` on (while `more(items)` and the --limit allow), in batches of those prefetched."""

        def fetch(next_url: str, fetched: int) -> Fetched:
            return fetch_rounds(
                self.client, _with_limit(next_url, self.page_size(fetched)), self.options.page_rounds
            )

        def go_on(page: Page, fetched: int) -> bool:
            left = self.remaining(fetched)
            return more(page.items) and (left is None or left > 0)

        for group in prefetch(fetch, url, go_on, self.client.stop, self.options.batch_pages):
            batch: list[Page] = []
            for item in group:
                try:
                    batch.append(self.collect(item))
                except BaseException:
                    if batch:
                        yield batch  # store what arrived before the failure
                    raise
            yield batch

    def rows(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            try:
                out.append(normalize(item))
            except Exception as exc:  # one odd item must not stop the walk
                self.summary.errors += 1
                model_id = str(item.get("id")) if isinstance(item, dict) else None
                store.record_error(
                    self.db, self.summary.run_id, model_id=model_id, target="listing item", kind="parse",
                    message=f"{type(exc).__name__}: {exc}",
                )  # fmt: skip
        return out

    def store(self, rows: list[dict[str, Any]], state: dict[str, str] | None, pages: int = 1) -> None:
        """Stage rows with the cursor that follows them; merge once enough are staged."""
        seen = listing_store.stage_listing_page(
            self.db, rows, run_id=self.summary.run_id, seen_at=self.seen_at, state=state
        )
        s = self.summary
        s.pages += pages
        s.models_seen += seen
        self.staged += seen
        newest = _newest(rows)
        if newest is not None and (s.watermark is None or newest > s.watermark):
            s.watermark = newest
        if self.staged >= self.options.merge_rows:
            self.merge(defer_renames=True)  # renames wait for the walk's last merge: one pass over the tables
        s.__dict__.update(self.client.counters())
        store.update_run(self.db, s.run_id, s.counters())
        if self.on_page is not None:
            self.on_page(s)
        self.db.end_window()  # a boundary: the window ends if readers wait (or after a few seconds)

    def merge(self, *, defer_renames: bool = False) -> None:
        """Merge staged listing rows (this run's, or a killed run's) into `models` and history.

        With `defer_renames`, rows that need a rename stay staged for a later merge (the walk's last).
        """
        result = listing_store.merge_staged(self.db, defer_renames=defer_renames)
        self.summary.models_new += result.new
        self.summary.models_updated += result.updated
        self.summary.models_renamed += result.renamed
        self.staged = 0

    def remaining(self, fetched: int) -> int | None:
        """Models this run may still fetch after `fetched` (None: no --limit)."""
        return None if self.options.limit is None else self.options.limit - fetched

    def page_size(self, fetched: int) -> int:
        left = self.remaining(fetched)
        return self.options.page_size if left is None else max(1, min(self.options.page_size, left))


def _newest(rows: list[dict[str, Any]]) -> datetime | None:
    return max((r["last_modified"] for r in rows if r["last_modified"] is not None), default=None)


def first_full_page(client: HubClient, options: CrawlOptions) -> str:
    """The absolute URL of a full walk's first page (what a crawl into a new database asks first)."""
    limit = options.page_size if options.limit is None else max(1, min(options.page_size, options.limit))
    return client.list_url(sort="createdAt", expand=EXPAND, limit=limit, author=options.author)


def _full(walk: _Walk) -> None:
    """Walk (or resume walking) everything by createdAt, checkpointing after every page."""
    db, client, k, s = walk.db, walk.client, walk.keys, walk.summary
    cursor = store.get_state(db, k["full.cursor"])
    if cursor is None:
        cursor = client.relative(first_full_page(client, walk.options))
        store.set_state(
            db,
            {
                k["full.cursor"]: cursor,
                k["full.started_at"]: _iso(walk.seen_at),
                k["full.max_modified"]: None,
            },
        )
    else:
        s.resumed = True
    max_modified = _parse(store.get_state(db, k["full.max_modified"]))
    if cursor != DONE:
        for batch in walk.batches(client.absolute(cursor), lambda _items: True):
            rows = [row for page in batch for row in walk.rows(page.items)]
            newest = _newest(rows)
            if newest is not None and (max_modified is None or newest > max_modified):
                max_modified = newest
            last = batch[-1]
            cursor = DONE if last.next_url is None else client.relative(last.next_url)
            state = {k["full.cursor"]: cursor}
            if max_modified is not None:
                state[k["full.max_modified"]] = _iso(max_modified)
            walk.store(rows, state, pages=len(batch))
    walk.merge()
    if cursor != DONE:
        if client.stop.is_set():
            raise CrawlInterrupted("stop requested")
        s.message = f"stopped at --limit {walk.options.limit}; the next run resumes the full walk"
        return
    started = _parse(store.get_state(db, k["full.started_at"])) or walk.seen_at
    s.models_deleted = store.mark_deleted(
        db, run_id=s.run_id, walk_started_at=started, author=walk.options.author
    )
    old = _parse(store.get_state(db, k["watermark"]))
    mark = max((m for m in (old, max_modified) if m is not None), default=None)
    store.set_state(
        db,
        {
            k["watermark"]: _iso(mark),
            k["full.cursor"]: None,
            k["full.started_at"]: None,
            k["full.max_modified"]: None,
            k["full.completed_at"]: _iso(utcnow()),
        },
    )
    s.watermark = mark
    s.complete = True


def _incremental(walk: _Walk, watermark: datetime) -> None:
    """Newest-modified first, until a page reaches below `watermark - overlap`."""
    db, client, k, s = walk.db, walk.client, walk.keys, walk.summary
    threshold = watermark - walk.options.overlap
    reached = False

    def more(items: list[dict[str, Any]]) -> bool:
        nonlocal reached  # a short or empty page is not the end: only a page without `next` is
        dated = [d for item in items if (d := parse_hub_date(item.get("lastModified"))) is not None]
        reached = reached or bool(dated and min(dated) < threshold)
        return not reached

    first = client.list_url(
        sort="lastModified", expand=EXPAND, limit=walk.page_size(0), author=walk.options.author
    )
    last: Page | None = None
    for batch in walk.batches(first, more):
        walk.store([row for page in batch for row in walk.rows(page.items)], None, pages=len(batch))
        last = batch[-1]
    walk.merge()
    if client.stop.is_set() and not reached:
        raise CrawlInterrupted("stop requested")
    if not reached and last is not None and last.next_url is not None:
        s.message = f"stopped at --limit {walk.options.limit}; watermark not advanced"
        return
    mark = max(watermark, s.watermark) if s.watermark is not None else watermark
    store.set_state(db, {k["watermark"]: _iso(mark)})
    s.watermark = mark
    s.complete = True


def full_walk_due(db: Database, every: timedelta | None, key: str = "full.completed_at") -> bool:
    """Whether the last completed full walk (crawl_state `key`) is older than `every` (never: due)."""
    if every is None:
        return False
    last = _parse(store.get_state(db, key))
    return last is None or utcnow() - last >= every


def crawl(
    db: Database,
    client: HubClient,
    options: CrawlOptions | None = None,
    *,
    on_page: ProgressHook | None = None,
    deep: DeepHook | None = None,
    handle_signals: bool = True,
    on_header: HeaderHook | None = None,
) -> CrawlSummary:
    """Run one crawl and return its summary; the ledger row is closed whatever happens.

    `deep` is the seam for the header pass: called after a successful listing
    walk when `options.deep != 'none'` (default: `crawler.deep.run_deep` if present).
    """
    options = options or CrawlOptions()
    if options.memory_limit_mb:
        db.configure(memory_limit=f"{int(options.memory_limit_mb)}MB")
    keys = _keys(options.author)
    watermark = _parse(store.get_state(db, keys["watermark"]))
    resuming = store.get_state(db, keys["full.cursor"]) is not None
    due = full_walk_due(db, options.full_every, keys["full.completed_at"])
    mode = "full" if options.full or resuming or watermark is None or due else "incremental"
    run_id = store.start_run(db, mode=mode, endpoint=client.endpoint, version=version())
    if options.label:
        store.set_state(db, {"dataset.label": options.label})
    seen_at = store.run_started_at(db, run_id) or utcnow()
    summary = CrawlSummary(run_id=run_id, mode=mode, endpoint=client.endpoint)
    walk = _Walk(db, client, options, summary, seen_at, on_page, keys)
    started = time.monotonic()
    try:
        with _stop_on_signals(client.stop, handle_signals):
            walk.merge()  # rows a killed run staged (committed with its cursor) come first
            if mode == "full":
                _full(walk)
            else:
                assert watermark is not None
                _incremental(walk, watermark)
            if options.deep != "none" and summary.complete:
                if deep is not None:
                    deep(db, client, summary)
                else:
                    _deep_default(db, client, summary, options, on_header)
        db.check_file()
        summary.status = "ok"
    except CrawlInterrupted:
        summary.status = "interrupted"
        summary.message = _interrupted_message(summary)
    except EndpointUnreachable as exc:  # the run's first request: one line with a hint, from the CLI
        summary.status = "failed"
        summary.message = str(exc)
        _close(db, summary, client, started)
        raise
    except HubError as exc:
        summary.status = "failed"
        summary.message = f"{short_url(exc.target, 120)}: {exc}"
    except BaseException as exc:
        summary.status = "failed"
        disk = disk_problem(exc, db.path) if isinstance(exc, Exception) else None
        summary.message = disk or f"{type(exc).__name__}: {exc}".splitlines()[0]
        _close(db, summary, client, started)
        if disk is not None and not isinstance(exc, DiskProblem):
            raise DiskProblem(disk) from exc
        raise
    if summary.status != "ok":
        _merge_before_leaving(walk)
    _close(db, summary, client, started)
    return summary


def _interrupted_message(summary: CrawlSummary) -> str:
    if summary.complete:
        return (
            f"stopped by a signal in the header pass after {summary.headers_fetched} models' headers; "
            "the next run reads the rest first"
        )
    if summary.mode == "full":
        return "stopped by a signal during the walk; the next run resumes the full walk from its checkpoint"
    return "stopped by a signal during the walk; the watermark was not advanced"


def _merge_before_leaving(walk: _Walk) -> None:
    """Merge what an ended walk staged; if even that fails, the rows stay staged for the next run."""
    try:
        walk.merge()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        walk.summary.message = f"{walk.summary.message}; staged rows left for the next run ({reason})"


def _close(db: Database, summary: CrawlSummary, client: HubClient, started: float) -> None:
    """Close the ledger row. After a failure, a row the first try cannot write is tried once more on a
    fresh connection (a full disk may still take it); if the file takes nothing the line is left in
    `<db>.failed` for the next run's ledger, and the failure that got here is the one raised."""
    summary.__dict__.update(client.counters())
    summary.elapsed = time.monotonic() - started
    tries = 1 if summary.status == "ok" else 2
    for tried in range(1, tries + 1):
        try:
            counters = summary.counters()
            store.finish_run(
                db, summary.run_id, status=summary.status, counters=counters, message=summary.message
            )
            break
        except Exception:
            if tried == 1 and summary.status == "ok":
                raise
            with contextlib.suppress(Exception):
                db.release()
    else:  # the file took nothing: the next run's ledger gets the line from `<db>.failed`
        if db.lock is not None:
            db.lock.note_failure(summary.run_id, summary.message or summary.status)
    if summary.status == "ok":
        db.release()
        return
    with contextlib.suppress(Exception):
        db.release()
