"""The deep pass: read safetensors headers of the models that need them, account, store.

Selection (`hubcensus crawl --deep ...`):
- ``changed`` (default): models whose headers were never read at their current sha;
- ``all``: every live model with safetensors files (re-reads everything);
- ``top:N``: the N most downloaded of those ``changed`` would pick;
- ``none``: skip the pass.

Headers are fetched by a bounded pool of threads (the `resolvers` pacer keeps
them inside the quota) and stored in batches. A file that cannot be parsed (or
is gated or gone at that commit) is a `fetch_errors` row and marks that sha as
unreadable, so it is not fetched again until the repo changes; a network
failure after retries is recorded and retried next run.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from crawler.headers import RepoHeaders, read_repo_headers
from crawler.hub import CrawlInterrupted, HubError
from crawler.listing import normalize
from crawler.safetensors_format import HeaderError
from crawler.weightfiles import component_of
from crawler.weights import ModelWeights, analyze, reconcile
from db import listing_store, store
from db.connection import Database, utcnow

DEFAULT_WORKERS = 8
BATCH = 1000
"""Models whose figures are stored in one transaction. Each store joins whole tables, so its cost
hardly depends on its size: with 2M models and 3.3M files, 6.8 ms per model in batches of 100,
0.8 ms in batches of 1,000 (bench/bench_store.py)."""
FLUSH_SECONDS = 30.0
"""...and stored at least this often, so a killed pass loses at most this much reading."""
CHUNK = 2000
"""Candidates read from the database at a time."""


@dataclass(frozen=True)
class Selection:
    """Which models the deep pass reads."""

    mode: str  # none | changed | all | top
    top: int | None = None


def parse_selection(text: str) -> Selection:
    """`none`, `changed`, `all` or `top:N`; a ValueError with the accepted forms otherwise."""
    value = text.strip().lower()
    if value in ("none", "changed", "all"):
        return Selection(value)
    if value.startswith("top:") and value[4:].isdigit() and int(value[4:]) > 0:
        return Selection("top", int(value[4:]))
    raise ValueError(f"--deep must be none, changed, all or top:N (N > 0), not {text!r}")


@dataclass(frozen=True)
class Candidate:
    """A model to read: its commit, weight files, quantization config and the Hub's own counts."""

    model_id: str
    sha: str
    weight_files: list[str]
    config: dict[str, Any] | None
    hub: dict[str, Any] | None


@dataclass
class DeepSummary:
    """What the deep pass did."""

    models: int = 0
    stored: int = 0
    unreadable: int = 0
    failed: int = 0
    gated_skipped: int = 0
    """Gated models not tried because the client has no token (they stay pending)."""
    left: int = 0
    """Models not tried because the time budget ran out (the next run reads them first)."""
    errors: list[str] = field(default_factory=list)


def _selected(selection: Selection) -> str:
    stale = "" if selection.mode == "all" else "AND m.deep_sha IS DISTINCT FROM m.sha"
    return f"m.deleted_at IS NULL AND m.sha IS NOT NULL AND len(coalesce(m.weight_files, [])) > 0 {stale}"


@dataclass(frozen=True)
class Backlog:
    """Where the header pass stands over the models with weight files."""

    read: int
    """Exact figures from the headers of the current sha."""
    unreadable: int
    """Current sha tried and found unreadable, gated or gone (not tried again until it changes)."""
    waiting: int
    """Not read at the current sha yet (gated ones included)."""
    gated: int
    """Of those waiting, the gated ones (read only with a token)."""


def backlog(db: Database) -> Backlog:
    """Counts of the models with weight files by where their headers stand (one scan of `models`)."""
    row = db.con.execute(
        f"""SELECT count(*) FILTER (WHERE deep_sha = sha AND weights_source = 'header'),
                   count(*) FILTER (WHERE deep_sha = sha AND weights_source IS DISTINCT FROM 'header'),
                   count(*) FILTER (WHERE deep_sha IS DISTINCT FROM sha),
                   count(*) FILTER (WHERE deep_sha IS DISTINCT FROM sha AND gated IS NOT NULL)
            FROM models m WHERE {_selected(Selection("all"))}"""
    ).fetchone()
    return Backlog(*(int(n) for n in row))


def gated_pending(db: Database, selection: Selection) -> int:
    """Gated models the selection would read (a token is needed for them)."""
    if selection.mode == "none":
        return 0
    sql = f"SELECT count(*) FROM models m WHERE {_selected(selection)} AND m.gated IS NOT NULL"
    return int(db.con.execute(sql).fetchone()[0])


def pending(
    db: Database, selection: Selection, *, gated: bool = True, chunk: int = CHUNK
) -> tuple[int, Iterator[Candidate]]:
    """How many models the selection asks for, and those models, most downloaded first.

    The order is fixed once in a temp table of keys; the candidates themselves are
    read `chunk` at a time, so a whole-Hub selection never sits in memory (or in
    DuckDB's memory limit) at once. Without `gated`, gated models are left out.
    """
    if selection.mode == "none":
        return 0, iter(())
    where = _selected(selection) + ("" if gated else " AND m.gated IS NULL")
    top = f"QUALIFY n <= {int(selection.top)}" if selection.mode == "top" else ""
    con = db.con
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE deep_todo AS
        SELECT row_number() OVER (ORDER BY m.downloads DESC NULLS LAST, m.model_id) AS n, m.model_id
        FROM models m WHERE {where} {top} ORDER BY n
        """
    )
    (count,) = con.execute("SELECT count(*) FROM deep_todo").fetchone()
    return int(count), _candidates(db, int(count), chunk)


def _candidates(db: Database, count: int, chunk: int) -> Iterator[Candidate]:
    con = db.con
    try:
        for first in range(1, count + 1, chunk):
            bounds = [first, first + chunk - 1]
            rows = con.execute(
                """
                SELECT m.model_id, m.sha, m.weight_files, m.quant_config, m.hub_total_params, h.parameters
                FROM deep_todo t JOIN models m ON m.model_id = t.model_id
                LEFT JOIN (
                    SELECT model_id, map_from_entries(list((dtype, parameters))) AS parameters
                    FROM model_dtypes
                    WHERE source = 'hub' AND model_id IN (SELECT model_id FROM deep_todo WHERE n BETWEEN ? AND ?)
                    GROUP BY model_id
                ) h ON h.model_id = m.model_id
                WHERE t.n BETWEEN ? AND ?
                ORDER BY t.n
                """,
                bounds + bounds,
            ).fetchall()
            for model_id, sha, files, config, total, params in rows:
                yield Candidate(
                    model_id=model_id,
                    sha=sha,
                    weight_files=list(files),
                    config=json.loads(config) if config else None,
                    hub={"total": total, "parameters": dict(params or {})}
                    if total is not None or params
                    else None,
                )
    finally:
        with contextlib.suppress(Exception):  # an abandoned walk may be closed after its database
            con.execute("DROP TABLE IF EXISTS deep_todo")


def model_rows(candidate: Candidate, headers: RepoHeaders, weights: ModelWeights) -> tuple[dict, list, list]:
    """The `models` update, `safetensors_files` rows and `file_dtypes` rows of one read model."""
    profile = weights.to_dict()
    bits = weights.bits_per_parameter
    model = {
        "model_id": candidate.model_id,
        "sha": candidate.sha,
        "weights_source": "header",
        "dominant_dtype": weights.dominant_dtype,
        "quant_method": weights.method,
        "effective_params": weights.effective_parameters or None,
        "weight_bytes": weights.weight_bytes,
        "overhead_bytes": weights.overhead_bytes,
        "file_bytes": weights.file_bytes,
        "bits_per_param": bits,
        "flags": weights.flags,
        "quant_evidence": weights.evidence,
        "profile": {
            "method_detail": profile["method_detail"],
            "bits": profile["bits"],
            "roles": profile["roles"],
            "components": profile["components"],
            "ignored_files": headers.ignored,
            "index_metadata": headers.index_metadata,
        },
        "header_parameters": weights.storage_parameters,
    }
    files, dtypes = [], []
    for header in headers.files:
        info = header.to_dict()
        files.append(
            {
                "model_id": candidate.model_id,
                "sha": candidate.sha,
                "path": header.path,
                "component": component_of(header.path),
                "size_bytes": header.file_size,
                "header_bytes": header.header_len,
                "tensor_count": info["tensor_count"],
                "metadata_format": info["format"],
            }
        )
        counts = _tensor_counts(header)
        for dtype, (elements, nbytes) in sorted(header.dtype_totals().items()):
            dtypes.append(
                {
                    "model_id": candidate.model_id,
                    "sha": candidate.sha,
                    "path": header.path,
                    "dtype": dtype,
                    "tensors": counts.get(dtype, 0),
                    "parameters": elements,
                    "bytes": nbytes,
                }
            )
    return model, files, dtypes


def _tensor_counts(header: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tensor in header.tensors:
        counts[tensor.dtype] = counts.get(tensor.dtype, 0) + 1
    return counts


def read_model(source: Any, candidate: Candidate) -> tuple[RepoHeaders, ModelWeights]:
    """Fetch and account one model (runs in a worker thread; no database access)."""
    headers = read_repo_headers(source, candidate.model_id, candidate.weight_files, candidate.sha)
    weights = analyze(headers.files, candidate.config, hub=candidate.hub)
    for component, metadata in sorted(headers.index_metadata.items()):
        part = weights.components.get(component)
        if part is not None:
            label = f"{component}/" if component else ""
            weights.flags.extend(f"{label}{flag}" for flag in reconcile(part, index_metadata=metadata))
    return headers, weights


def run_deep(
    db: Database,
    client: Any,
    *,
    run_id: int,
    selection: str | Selection = "changed",
    workers: int = DEFAULT_WORKERS,
    on_model: Callable[[DeepSummary], None] | None = None,
    minutes: float | None = None,
) -> DeepSummary:
    """Read, account and store the headers the selection asks for; failures are recorded, not fatal.

    With `minutes`, no read starts after that long: the rest stay pending, most downloaded first.
    """
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    chosen = parse_selection(selection) if isinstance(selection, str) else selection
    authenticated = getattr(client, "authenticated", True)
    count, candidates = pending(db, chosen, gated=authenticated)
    summary = DeepSummary(models=count)
    if not authenticated:
        summary.gated_skipped = gated_pending(db, chosen)
    read = _ReadRows()
    try:
        for candidate, outcome in _fetch_all(client, candidates, workers, deadline):
            if isinstance(outcome, tuple):
                read.add(candidate, *outcome)
                if read.due():
                    read.store(db, summary)
            else:
                _record_failure(db, run_id, candidate, outcome, summary)
            if on_model is not None:
                on_model(summary)
    except CrawlInterrupted:
        read.store(db, summary)  # what was read before the stop is kept
        raise
    read.store(db, summary)
    summary.left = summary.models - summary.stored - summary.unreadable - summary.failed
    return summary


def _fetch_all(
    client: Any, candidates: Iterable[Candidate], workers: int, deadline: float | None = None
) -> Iterator[tuple[Candidate, tuple[RepoHeaders, ModelWeights] | Exception]]:
    """Results in completion order, with at most `2 * workers` reads in flight (bounded memory).

    After `deadline` (a `time.monotonic()` value) no new read starts; those in flight finish.
    """
    todo = iter(candidates)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deep") as pool:
        running: dict[Future, Candidate] = {}
        try:
            while True:
                while len(running) < 2 * workers:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    candidate = next(todo, None)
                    if candidate is None:
                        break
                    running[pool.submit(read_model, client, candidate)] = candidate
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    candidate = running.pop(future)
                    error = future.exception()
                    if isinstance(error, CrawlInterrupted):
                        raise error
                    if error is not None and not isinstance(error, HubError | HeaderError | ValueError):
                        raise error
                    yield candidate, error if error is not None else future.result()
        finally:
            for future in running:
                future.cancel()


@dataclass
class _ReadRows:
    """Rows of models read and not yet stored (only the rows: the parsed headers are let go)."""

    models: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    dtypes: list[dict[str, Any]] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)

    def add(self, candidate: Candidate, headers: RepoHeaders, weights: ModelWeights) -> None:
        model, files, dtypes = model_rows(candidate, headers, weights)
        self.models.append(model)
        self.files.extend(files)
        self.dtypes.extend(dtypes)

    def due(self) -> bool:
        return len(self.models) >= BATCH or time.monotonic() - self.since >= FLUSH_SECONDS

    def store(self, db: Database, summary: DeepSummary) -> None:
        if self.models:
            store.store_headers(db, self.models, self.files, self.dtypes)
            summary.stored += len(self.models)
        self.models, self.files, self.dtypes = [], [], []
        self.since = time.monotonic()


PERMANENT_STATUSES = frozenset({401, 403, 404})
"""Answers that will not change for this commit (we read at the immutable sha): gated, gone."""


def _record_failure(
    db: Database, run_id: int, candidate: Candidate, error: Exception, summary: DeepSummary
) -> None:
    reason = " ".join(str(error).split())
    if isinstance(error, HubError):
        store.record_error(
            db, run_id, model_id=candidate.model_id, target=error.target, kind=error.kind,
            status=error.status, message=reason,
        )  # fmt: skip
        if error.status not in PERMANENT_STATUSES:
            summary.failed += 1
            return
    else:
        store.record_error(
            db, run_id, model_id=candidate.model_id, target=f"{candidate.model_id}@{candidate.sha}",
            kind="header", message=reason,
        )  # fmt: skip
    summary.unreadable += 1
    store.mark_header_unreadable(db, model_id=candidate.model_id, sha=candidate.sha, reason=reason)
    summary.errors.append(f"{candidate.model_id}: {reason}")


def read_one(
    db: Database, client: Any, model_id: str, *, run_id: int, expand: tuple[str, ...]
) -> DeepSummary:
    """Fetch one model's listing fields and headers into `db` (what `hubcensus explain --live` uses)."""
    query = urlencode([("expand", key) for key in expand])
    item = client.get_json(f"/api/models/{quote(model_id, safe='/')}?{query}")
    listing_store.store_listing_page(db, [normalize(item)], run_id=run_id, seen_at=utcnow())
    return run_deep(db, client, run_id=run_id, selection=Selection("all"), workers=2)
