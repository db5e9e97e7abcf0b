"""The header pass (`crawl --deep`): read the safetensors and GGUF headers (and configs) of the
models that need them, account, store.

Per model: a reader step per format (`read_safetensors`: range reads through `/resolve/`
only) -> counting (`counting.weights.analyze`) -> rows (`model_rows`).

Which models, in what order: `hubcensus.db.header_queue`. Headers are fetched by a bounded pool of threads (the `resolvers` pacer keeps
them inside the quota) and stored in batches. A file that cannot be parsed (or
is gated or gone at that commit) is a `fetch_errors` row and marks that sha as
unreadable, so it is not fetched again until the repo changes; a network
failure after retries is recorded and retried next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from hubcensus.crawler import gguf_pass
from hubcensus.crawler.config_pass import ConfigRead, read_config
from hubcensus.crawler.config_pass import backfill as backfill_configs
from hubcensus.crawler.counting.weights import ModelWeights, analyze, reconcile
from hubcensus.crawler.files.budget import MemoryBudget, give_back
from hubcensus.crawler.files.headers import ANALYZE_COST, RepoHeaders, long_header_bytes, read_repo_headers
from hubcensus.crawler.files.weightfiles import component_of
from hubcensus.crawler.formats.safetensors import HeaderError
from hubcensus.crawler.hub import CrawlInterrupted, HubError
from hubcensus.crawler.walk.listing import normalize
from hubcensus.db import config_store, listing_store, renames, store
from hubcensus.db.connection import Database, utcnow
from hubcensus.db.header_queue import Candidate, Selection, gated_pending, parse_selection, pending

DEFAULT_WORKERS = 8
BATCH = 1000
"""Models whose figures are stored in one transaction. Each store joins whole tables, so its cost
hardly depends on its size: with 2M models and 3.3M files, 6.8 ms per model in batches of 100,
0.8 ms in batches of 1,000 (bench/bench_store.py)."""
FLUSH_SECONDS = 30.0
"""...and stored at least this often, so a killed pass loses at most this much reading."""
HEADER_MEMORY_FROM_MB = 512
"""The crawl's default `--memory-limit` (MB), from which the header budget is derived."""


def header_budget(memory_mb: int | None, *, stop: Any = None) -> MemoryBudget:
    """The memory that header reads in flight share: half the crawl's `--memory-limit` (the other half
    is DuckDB's cap's due), so the crawl stays within ~the limit plus the interpreter whatever the Hub
    sends; without a limit, the default's half."""
    return MemoryBudget((memory_mb or HEADER_MEMORY_FROM_MB) * 2**20 // 2, stop=stop)


@dataclass
class DeepSummary:
    """What the header pass did."""

    models: int = 0
    stored: int = 0
    unreadable: int = 0
    failed: int = 0
    gated_skipped: int = 0
    """Gated models not tried because the client has no token (they stay pending)."""
    left: int = 0
    """Models not tried because the time budget ran out (the next run reads them first)."""
    files: int = 0
    """Safetensors files whose headers were read."""
    bytes: int = 0
    """Bytes of the weight files measured from those headers."""
    errors: list[str] = field(default_factory=list)
    configs: int = 0
    """config.json rows stored (KV cache figures)."""


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
            "ignored_files": [{"path": i.path, "reason": i.reason} for i in headers.ignored],
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


def read_safetensors(source: Any, candidate: Candidate, budget: MemoryBudget | None = None) -> RepoHeaders:
    """The safetensors reader step: the headers of the model's weight set (range reads, 1-2 per file)."""
    return read_repo_headers(source, candidate.model_id, candidate.weight_files, candidate.sha, budget=budget)


def read_model(
    source: Any, candidate: Candidate, budget: MemoryBudget | None = None
) -> tuple[RepoHeaders, ModelWeights]:
    """Fetch and account one model (runs in a worker thread; no database access)."""
    headers = read_safetensors(source, candidate, budget)
    config = candidate.config
    if candidate.model_type:  # the architecture tells which linears have no bias (quantizer-added ones)
        config = {"model_type": candidate.model_type, **(config or {})}
    long = long_header_bytes(headers)  # counting a long header costs memory too: it shares the budget
    with budget.hold(ANALYZE_COST * long) if budget is not None and long else nullcontext():
        weights = analyze(headers.files, config, hub=candidate.hub)
    if long:
        give_back()
    for component, metadata in sorted(headers.index_metadata.items()):
        part = weights.components.get(component)
        if part is not None:
            label = f"{component}/" if component else ""
            weights.flags.extend(f"{label}{flag}" for flag in reconcile(part, index_metadata=metadata))
    return headers, weights


def read_model_config(
    source: Any, candidate: Candidate, budget: MemoryBudget | None = None
) -> tuple[Any, ...] | gguf_pass.GGUFRepo:
    """`read_model`, then the model's config.json for the KV cache (one request when wanted and new).

    GGUF files are read by `gguf_pass`: a GGUF-only repo returns its `GGUFRepo`; a repo with both
    returns the safetensors figures and config with the `GGUFRepo` as a fourth element.
    """
    gguf = None
    if gguf_pass.has_gguf(candidate.weight_files):
        gguf = gguf_pass.read_repo(source, candidate.model_id, candidate.sha, paths=candidate.weight_files)
        if gguf_pass.gguf_only(candidate.weight_files):
            return gguf
    headers, weights = read_model(source, candidate, budget)
    read = (headers, weights, read_config(source, candidate, headers.files))
    return read if gguf is None else (*read, gguf)


def run_deep(
    db: Database,
    client: Any,
    *,
    run_id: int,
    selection: str | Selection = "changed",
    workers: int = DEFAULT_WORKERS,
    on_model: Callable[[DeepSummary], None] | None = None,
    minutes: float | None = None,
    memory_mb: int | None = HEADER_MEMORY_FROM_MB,
) -> DeepSummary:
    """Read, account and store the headers the selection asks for; failures are recorded, not fatal.

    With `minutes`, no read starts after that long: the rest stay pending, most downloaded first.
    `memory_mb` is the crawl's `--memory-limit`: headers in flight share half of it (`header_budget`).
    """
    budget = header_budget(memory_mb, stop=getattr(client, "stop", None))
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    chosen = parse_selection(selection) if isinstance(selection, str) else selection
    authenticated = getattr(client, "authenticated", True)
    count, candidates = pending(db, chosen, gated=authenticated)
    summary = DeepSummary(models=count)
    if not authenticated:
        summary.gated_skipped = gated_pending(db, chosen)
    read = _ReadRows(run_id=run_id, client=client)
    try:
        for candidate, outcome in _fetch_all(client, candidates, workers, deadline, budget):
            if isinstance(outcome, gguf_pass.GGUFRepo):
                read.gguf.add(outcome, figures=True)
                summary.files += len(outcome.reads)
                summary.bytes += sum(r.entry.size for r in outcome.reads)
                if read.due():
                    read.store(db, summary)
            elif isinstance(outcome, tuple):
                read.add(candidate, *outcome)
                summary.files += len(outcome[0].files)
                summary.bytes += sum(f.file_size or 0 for f in outcome[0].files)
                if read.due():
                    read.store(db, summary)
            else:
                _record_failure(db, run_id, candidate, outcome, summary)
            if on_model is not None:
                on_model(summary)
            db.end_window()  # a boundary: a waiting reader gets the file while headers are read
    except CrawlInterrupted:
        read.store(db, summary)  # what was read before the stop is kept
        raise
    read.store(db, summary)
    summary.left = summary.models - summary.stored - summary.unreadable - summary.failed
    if chosen.mode != "none" and (deadline is None or time.monotonic() < deadline):  # KV: configs still missing
        summary.configs += backfill_configs(db, client, run_id=run_id, workers=workers, deadline=deadline,
                                            gated=authenticated)  # fmt: skip
    return summary


def _fetch_all(
    client: Any,
    candidates: Iterable[Candidate],
    workers: int,
    deadline: float | None = None,
    budget: MemoryBudget | None = None,
) -> Iterator[tuple[Candidate, tuple[Any, ...] | gguf_pass.GGUFRepo | Exception]]:
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
                    running[pool.submit(read_model_config, client, candidate, budget)] = candidate
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
    gguf: gguf_pass.GGUFRows = field(default_factory=gguf_pass.GGUFRows)
    since: float = field(default_factory=time.monotonic)
    run_id: int | None = None
    client: Any = None
    """Whose redirects revealed renames: applied after the rows are stored (history moves along)."""
    configs: list[dict[str, Any]] = field(default_factory=list)
    config_requests: int = 0

    def add(
        self,
        candidate: Candidate,
        headers: RepoHeaders,
        weights: ModelWeights,
        config: ConfigRead | None = None,
        gguf: gguf_pass.GGUFRepo | None = None,
    ) -> None:
        if gguf is not None:  # GGUF files beside safetensors: stored, the figures stay the safetensors ones
            self.gguf.add(gguf, figures=False)
        model, files, dtypes = model_rows(candidate, headers, weights)
        if config is not None:
            self.configs.extend([config.row] if config.row else [])
            self.config_requests += config.requests
        self.models.append(model)
        self.files.extend(files)
        self.dtypes.extend(dtypes)

    def due(self) -> bool:
        return len(self.models) + len(self.gguf) >= BATCH or time.monotonic() - self.since >= FLUSH_SECONDS

    def store(self, db: Database, summary: DeepSummary) -> None:
        if self.models:
            store.store_headers(db, self.models, self.files, self.dtypes)
            summary.stored += len(self.models)
        exact, unreadable = self.gguf.store(db)
        summary.stored += exact
        summary.unreadable += unreadable
        take = getattr(self.client, "take_renames", None)
        for old, new in (take() if take is not None else {}).items():  # a 3xx to a new name is a rename
            renames.rename_model(db, old, new, run_id=self.run_id)
        config_store.store_configs(db, self.configs, run_id=self.run_id, requests=self.config_requests)
        summary.configs += len(self.configs)
        self.configs, self.config_requests = [], 0
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
