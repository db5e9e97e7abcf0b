"""Writes and reads of `model_configs`: the KV-cache figures derived from each model's config.json.

One row per model (its latest read commit). The header pass stores them in the same batches as the
headers; each stored batch also adds its config requests to the run ledger (`crawl_runs.configs_fetched`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubcensus.db import schema
from hubcensus.db.arrow import arrow_table
from hubcensus.db.connection import Database, utcnow

CONFIG_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in schema.model_configs.columns if c.name != "fetched_at"
)


def store_configs(db: Database, rows: Sequence[Mapping[str, Any]], *, run_id: int | None = None,
                  requests: int = 0) -> None:  # fmt: skip
    """Replace the `model_configs` rows of these models; count `requests` config reads for `run_id`."""
    con = db.con
    if not rows and not requests:
        return
    table = arrow_table(schema.model_configs, list(rows), CONFIG_COLUMNS) if rows else None
    con.execute("BEGIN TRANSACTION")
    try:
        if table is not None:
            con.register("stage_model_configs", table)
            con.execute(
                "DELETE FROM model_configs WHERE model_id IN (SELECT model_id FROM stage_model_configs)"
            )
            cols = ", ".join(CONFIG_COLUMNS)
            con.execute(
                f"INSERT INTO model_configs ({cols}, fetched_at) SELECT {cols}, ? FROM stage_model_configs",
                [utcnow()],
            )
        if run_id is not None and requests:
            con.execute(
                "UPDATE crawl_runs SET configs_fetched = coalesce(configs_fetched, 0) + ? WHERE run_id = ?",
                [requests, run_id],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        if table is not None:
            con.unregister("stage_model_configs")


def config_row(con: Any, model_id: str) -> dict[str, Any] | None:
    """The stored `model_configs` row of a model as a dict (flags a list, fields a dict), or None."""
    cursor = con.execute("SELECT * FROM model_configs WHERE model_id = ?", [model_id])
    row = cursor.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cursor.description], row, strict=True))
    out["flags"] = list(out.get("flags") or [])
    out["fields"] = (
        json.loads(out["fields"]) if isinstance(out.get("fields"), str) else (out.get("fields") or {})
    )
    return out


@dataclass(frozen=True)
class ConfigCandidate:
    """A model whose config.json is not read at its current sha (the header pass is done with it)."""

    model_id: str
    sha: str
    pipeline_tag: str | None
    architecture: str | None
    config_sha: str | None = None


def pending_configs(
    db: Database, *, gated: bool = True, chunk: int = 2000
) -> Iterator[list[ConfigCandidate]]:
    """Chunks (by model_id) of possible text generators whose header pass is done but config not read.

    Models the header pass will read (`deep_sha` behind `sha`) are left to it; GGUF-only repos are left
    out (they rarely hold a config.json); repos without weight files (.bin only) are in.
    Re-queried chunk by chunk, so memory stays bounded at Hub scale.
    """
    where = "" if gated else "AND m.gated IS NULL"
    after = ""
    while True:
        rows = db.con.execute(
            f"""
            SELECT m.model_id, m.sha, m.pipeline_tag, m.architecture
            FROM models m LEFT JOIN model_configs c ON c.model_id = m.model_id
            WHERE m.deleted_at IS NULL AND m.sha IS NOT NULL AND c.sha IS DISTINCT FROM m.sha {where}
              AND ((m.deep_sha = m.sha AND len(list_filter(m.weight_files, lambda f: f LIKE '%.safetensors%')) > 0)
                   OR (len(coalesce(m.weight_files, [])) = 0 AND m.gguf_total IS NULL AND m.architecture IS NOT NULL))
              AND (m.pipeline_tag IN ('text-generation', 'image-text-to-text')
                   OR m.architecture LIKE '%ForCausalLM' OR m.architecture LIKE '%LMHeadModel'
                   OR m.architecture LIKE '%ForConditionalGeneration' OR m.architecture IN ('ChatGLMModel', 'RWModel'))
              AND m.model_id > ?
            ORDER BY m.model_id LIMIT ?
            """,
            [after, chunk],
        ).fetchall()
        if not rows:
            return
        yield [ConfigCandidate(*row) for row in rows]
        after = rows[-1][0]
