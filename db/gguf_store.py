"""Writes of the GGUF part of the header pass: `gguf_files`, `gguf_types` and GGUF-only models' figures.

History per sha as for safetensors: the rows of a (model, sha) are replaced when that sha is read
again; other shas' rows stay. A model whose sha moved on since (a newer listing) keeps the files as
history but not the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubcensus.db import schema
from hubcensus.db.arrow import arrow_table, staged_transaction, to_json
from hubcensus.db.connection import Database, utcnow

FILE_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.gguf_files.columns if c.name != "fetched_at")
TYPE_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.gguf_types.columns)
MODEL_COLUMNS: tuple[str, ...] = (
    "weights_source", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "overhead_bytes",
    "file_bytes", "bits_per_param", "flags", "quant_evidence", "profile",
    "active_params", "expert_count", "experts_per_token", "active_reason",
)  # fmt: skip
"""`models` columns a GGUF-only model's variants set (see `crawler.gguf_pass.model_figures`)."""


def store_gguf(
    db: Database,
    files: list[Mapping[str, Any]],
    types: list[Mapping[str, Any]],
    models: list[Mapping[str, Any]],
) -> None:
    """Store GGUF file rows, their per-type rows and GGUF-only models' figures in one transaction.

    `models`: dicts with `model_id`, `sha`, the MODEL_COLUMNS and `header_parameters`
    ({ggml type: parameters} of the model's representative variant).
    """
    if not files and not models:
        return
    now = utcnow()
    keys = sorted({(r["model_id"], r["sha"]) for r in (*files, *models)})
    key_rows = [{"model_id": m, "sha": s} for m, s in keys]
    staged = {
        "stage_g_keys": arrow_table(schema.gguf_files, key_rows, ("model_id", "sha")),
        "stage_g_files": arrow_table(schema.gguf_files, list(files), FILE_COLUMNS),
        "stage_g_types": arrow_table(schema.gguf_types, list(types), TYPE_COLUMNS),
        "stage_g_models": arrow_table(
            schema.models,
            [{**m, "profile": m.get("profile")} for m in models],
            ("model_id", "sha", *MODEL_COLUMNS),
        ),
    }
    params = [
        {"model_id": m["model_id"], "sha": m["sha"], "header_parameters": to_json(m.get("header_parameters"))}
        for m in models
    ]
    con = db.con
    with staged_transaction(con, staged):
        con.execute("DELETE FROM gguf_files WHERE (model_id, sha) IN (SELECT model_id, sha FROM stage_g_keys)")
        con.execute("DELETE FROM gguf_types WHERE (model_id, sha) IN (SELECT model_id, sha FROM stage_g_keys)")
        con.execute(
            f"INSERT INTO gguf_files ({', '.join(FILE_COLUMNS)}, fetched_at) "
            f"SELECT {', '.join(FILE_COLUMNS)}, ? FROM stage_g_files",
            [now],
        )
        con.execute(f"INSERT INTO gguf_types ({', '.join(TYPE_COLUMNS)}) SELECT * FROM stage_g_types")
        if models:
            sets = ", ".join(f"{c} = s.{c}" for c in MODEL_COLUMNS)
            con.execute(
                f"UPDATE models SET {sets}, deep_sha = s.sha, deep_at = ? "
                "FROM stage_g_models s WHERE models.model_id = s.model_id AND models.sha = s.sha",
                [now],
            )
            for row in params:
                con.execute(
                    """UPDATE model_versions SET header_parameters = ?::JSON, dominant_dtype = m.dominant_dtype,
                           quant_method = m.quant_method, effective_params = m.effective_params,
                           weight_bytes = m.weight_bytes
                       FROM stage_g_models m
                       WHERE model_versions.model_id = ? AND model_versions.sha = ?
                         AND m.model_id = model_versions.model_id AND m.sha = model_versions.sha""",
                    [row["header_parameters"], row["model_id"], row["sha"]],
                )
