"""The header queue: which models the header pass reads next, and where it stands (all its SQL).

Selection (`hubcensus crawl --deep ...`):
- ``changed`` (default): models whose headers were never read at their current sha;
- ``all``: every live model with weight files (safetensors, PyTorch pickles, GGUF: re-reads everything);
- ``top:N``: the N most downloaded of those ``changed`` would pick;
- ``none``: skip the pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hubcensus.db.connection import Database

CHUNK = 2000
"""Candidates read from the database at a time."""


@dataclass(frozen=True)
class Selection:
    """Which models the header pass reads."""

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
    """A model to read: its commit, weight files (safetensors, pickle, GGUF names from the siblings: a
    pickle-only repo is a candidate like any), quantization config and the Hub's own counts."""

    model_id: str
    sha: str
    weight_files: list[str]
    config: dict[str, Any] | None
    hub: dict[str, Any] | None
    model_type: str | None = None
    """The listing's `config.model_type` (which linears the architecture builds without a bias)."""
    pipeline_tag: str | None = None
    architecture: str | None = None
    config_sha: str | None = None
    """Commit of the stored `model_configs` row (the config pass skips a model already read at `sha`)."""
    moe: dict[str, Any] | None = None
    """The stored config's mixture-of-experts keys (`model_configs.moe`), for active parameters."""


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

    The candidates are read `chunk` at a time by keyset (downloads, model_id): a whole-Hub
    selection never sits in memory (or in DuckDB's memory limit) at once, and no temporary
    table ties the pass to one connection (the crawl closes the file between write windows).
    Without `gated`, gated models are left out.
    """
    if selection.mode == "none":
        return 0, iter(())
    where = _selected(selection) + ("" if gated else " AND m.gated IS NULL")
    (count,) = db.con.execute(f"SELECT count(*) FROM models m WHERE {where}").fetchone()
    if selection.mode == "top":
        count = min(int(count), int(selection.top or 0))
    return int(count), _candidates(db, where, int(count), chunk)


_ORDER = "coalesce(m.downloads, -1) DESC, m.model_id"
"""Most downloaded first (no figure last), then by name: a total order, so a keyset resumes exactly."""


def _candidates(db: Database, where: str, count: int, chunk: int) -> Iterator[Candidate]:
    after: tuple[int, str] | None = None
    given = 0
    while given < count:
        keyset = (
            ""
            if after is None
            else (
                " AND (coalesce(m.downloads, -1) < ? OR (coalesce(m.downloads, -1) = ? AND m.model_id > ?))"
            )
        )
        params: list[Any] = [] if after is None else [after[0], after[0], after[1]]
        rows = db.con.execute(
            f"""
            WITH todo AS (
                SELECT m.model_id, coalesce(m.downloads, -1) AS d FROM models m
                WHERE {where}{keyset} ORDER BY {_ORDER} LIMIT {min(chunk, count - given)}
            )
            SELECT m.model_id, m.sha, m.weight_files, m.quant_config, m.hub_total_params, h.parameters, t.d,
                   m.model_type, m.pipeline_tag, m.architecture, c.sha, c.moe
            FROM todo t JOIN models m ON m.model_id = t.model_id
            LEFT JOIN model_configs c ON c.model_id = m.model_id
            LEFT JOIN (
                SELECT model_id, map_from_entries(list((dtype, parameters))) AS parameters
                FROM model_dtypes
                WHERE source = 'hub' AND model_id IN (SELECT model_id FROM todo)
                GROUP BY model_id
            ) h ON h.model_id = m.model_id
            ORDER BY t.d DESC, m.model_id
            """,
            params,
        ).fetchall()
        if not rows:
            return
        for model_id, sha, files, config, total, params_, downloads, model_type, pipeline, arch, config_sha, moe in rows:
            yield Candidate(
                model_id=model_id,
                sha=sha,
                weight_files=list(files),
                config=json.loads(config) if config else None,
                hub={"total": total, "parameters": dict(params_ or {})}
                if total is not None or params_
                else None,
                model_type=model_type,
                pipeline_tag=pipeline,
                architecture=arch,
                config_sha=config_sha,
                moe=json.loads(moe) if moe else None,
            )
            after = (int(downloads), model_id)
        given += len(rows)
