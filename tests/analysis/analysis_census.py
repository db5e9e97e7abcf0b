"""The known census database for analysis tests, built through db.store like a crawl would.

Twelve models (one deleted, one of unknown storage, one GGUF) created 2024-01..03:

Weight files (`weight_format`): meta/base-b pickle only, st/embed safetensors + pickle, g/base-b-gguf GGUF,
x/unknown none known, every other safetensors.

| model | created | lib | family | eff. params | weight bytes | dl |
|---|---|---|---|---|---|---|
| meta/base-a | 01-10 | transformers | BF16 | 8e9 | 16e9 (header, files 16.02e9) | 1000 |
| meta/base-b | 01-20 | transformers | F32 | 1e9 | 4e9 | 500 |
| sd/diff-c | 01-25 | diffusers | F16 | 2e9 | 4e9 | 300 |
| q/base-a-fp8 | 02-01 | transformers | F8 (base a) | 8e9 | 8.4e9 (header, files 8.41e9) | 200 |
| q/base-a-awq | 02-15 | transformers | 4-bit awq (base a) | 8e9 | 5e9 | 100 |
| x/unknown | 02-20 | transformers | NULL | - | - | 10 |
| meta/base-a-gptq | 03-05 | transformers | 4-bit gptq (base a) | 8e9 | 4.8e9 | 50 |
| st/embed | 03-10 | sentence-transformers | F32 | 1e8 | 4e8 | 5000 |
| g/base-b-gguf | 03-20 | gguf | GGUF (base b) | - | - | 80 |
| q/base-b-bnb8 | 03-25 | transformers | INT8 (base b) | 1e9 | 1.1e9 | 40 |
| m/mlx-4bit | 03-28 | mlx | 4-bit mlx (base b) | 1e9 | 0.6e9 | 20 |
| old/deleted | 01-05 | transformers | BF16 | 1e9 | 2e9 | 7 | (deleted)

Headers were read for meta/base-a (a mixture of experts: 8 routed, top-2, 2.75e9 active) and
q/base-a-fp8 (dense): the only models whose expert layout is known (`MOE`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database

NOW = datetime(2024, 4, 2, 12, 0)
SEEN = datetime(2024, 4, 1)
G = 1_000_000_000


def _model(
    model_id: str,
    created: str,
    library: str | None,
    pipeline: str | None,
    dominant: str | None,
    quant: str | None,
    params: int | None,
    weight_bytes: int | None,
    downloads: int,
    *,
    base: str | None = None,
    hub: dict[str, int] | None = None,
    gguf_total: int | None = None,
) -> dict[str, Any]:
    bits = None if not params or weight_bytes is None else weight_bytes * 8 / params
    return {
        "model_id": model_id,
        "author": model_id.split("/")[0],
        "created_at": datetime.fromisoformat(f"2024-{created}"),
        "last_modified": datetime.fromisoformat(f"2024-{created}"),
        "sha": hashlib.sha1(model_id.encode()).hexdigest(),
        "library_name": library,
        "pipeline_tag": pipeline,
        "tags": [],
        "downloads": downloads,
        "likes": 1,
        "base_models": [base] if base else None,
        "base_relation": "quantized" if base else None,
        "hub_parameters": hub or ({dominant: params} if dominant and params else {}),
        "hub_total_params": params,
        "gguf_total": gguf_total,
        "weights_source": "hub" if dominant else None,
        "dominant_dtype": dominant,
        "quant_method": quant,
        "effective_params": params,
        "weight_bytes": weight_bytes,
        "bits_per_param": bits,
        "weight_format": WEIGHT_FORMATS.get(model_id)
        or ("gguf" if quant == "gguf" else "safetensors" if dominant else None),
    }


WEIGHT_FORMATS = {"meta/base-b": "pickle", "st/embed": "both"}
"""models.weight_format where it is not what the storage says (pickle-only, safetensors beside pickles)."""

MODELS = [
    _model("meta/base-a", "01-10", "transformers", "text-generation", "BF16", "none", 8 * G, 16 * G, 1000),
    _model("meta/base-b", "01-20", "transformers", "text-generation", "F32", "none", 1 * G, 4 * G, 500),
    _model("sd/diff-c", "01-25", "diffusers", "text-to-image", "F16", "none", 2 * G, 4 * G, 300),
    _model(
        "q/base-a-fp8",
        "02-01",
        "transformers",
        "text-generation",
        "F8_E4M3",
        "fp8",
        8 * G,
        8_400_000_000,
        200,
        base="meta/base-a",
    ),
    _model(
        "q/base-a-awq",
        "02-15",
        "transformers",
        "text-generation",
        "I32",
        "awq",
        8 * G,
        5 * G,
        100,
        base="meta/base-a",
        hub={"I32": G, "F16": 500_000_000},
    ),
    _model("x/unknown", "02-20", "transformers", "text-generation", None, None, None, None, 10),
    _model(
        "meta/base-a-gptq",
        "03-05",
        "transformers",
        "text-generation",
        "I32",
        "gptq",
        8 * G,
        4_800_000_000,
        50,
        base="meta/base-a",
    ),
    _model(
        "st/embed",
        "03-10",
        "sentence-transformers",
        "sentence-similarity",
        "F32",
        "none",
        100_000_000,
        400_000_000,
        5000,
    ),
    _model(
        "g/base-b-gguf",
        "03-20",
        "gguf",
        "text-generation",
        None,
        "gguf",
        None,
        None,
        80,
        base="meta/base-b",
        gguf_total=G,
    ),
    _model(
        "q/base-b-bnb8",
        "03-25",
        "transformers",
        "text-generation",
        "I8",
        "bnb-8bit",
        G,
        1_100_000_000,
        40,
        base="meta/base-b",
    ),
    _model(
        "m/mlx-4bit", "03-28", "mlx", "text-generation", "U32", "mlx", G, 600_000_000, 20, base="meta/base-b"
    ),
]
DELETED = _model("old/deleted", "01-05", "transformers", "text-generation", "BF16", "none", G, 2 * G, 7)

HEADERS = {"meta/base-a": 16_020_000_000, "q/base-a-fp8": 8_410_000_000}
MOE = {
    # the header pass's expert layout: base-a read as a mixture of experts (8 routed, top-2, 7e9 in experts:
    # active = 1e9 + 7e9 * 2/8 = 2.75e9), its FP8 derivative as dense (active = effective)
    "meta/base-a": {"active_params": 2_750_000_000, "expert_count": 8, "experts_per_token": 2,
                    "shared_experts": 0, "expert_params": 7 * G},
    "q/base-a-fp8": {"active_params": 8 * G, "expert_count": 0},
}  # fmt: skip


def header_row(model_id: str, file_bytes: int, layout: dict[str, Any]) -> dict[str, Any]:
    """What the header pass stores for one model of `MODELS`: its figures, read exactly, and `layout`
    (active_params and the expert layout)."""
    row = next(m for m in MODELS if m["model_id"] == model_id)
    keys = ("model_id", "sha", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "bits_per_param")
    return {k: row[k] for k in keys} | {
        "weights_source": "header",
        "overhead_bytes": 0,
        "file_bytes": file_bytes,
        "flags": [],
        "header_parameters": {row["dominant_dtype"]: row["effective_params"]},
    } | layout


def build_census(path: Path) -> Path:
    """Write the known database to `path`."""
    db = open_database(path)
    try:
        run = store.start_run(db, mode="full", endpoint="http://127.0.0.1:1", version="test")
        listing_store.store_listing_page(db, [DELETED], run_id=run, seen_at=datetime(2024, 3, 1))
        listing_store.store_listing_page(db, MODELS, run_id=run, seen_at=SEEN)
        assert store.mark_deleted(db, run_id=run, walk_started_at=datetime(2024, 3, 31)) == 1
        exact = [header_row(model_id, file_bytes, MOE[model_id]) for model_id, file_bytes in HEADERS.items()]
        store.store_headers(db, exact, [], [])
        _store_configs(db)
        store.finish_run(db, run, status="ok", counters={"pages": 2, "models_seen": 12})
        db.con.execute("UPDATE crawl_runs SET finished_at = ?", [datetime(2024, 4, 1, 6, 30)])
    finally:
        db.close()
    return path


KV_CONFIGS = {
    # Llama-3.1-8B- and gemma-2b-shaped configs constructed in tests/crawler/kv_configs.py
    "meta/base-a": "llama-3.1-8b-shape", "q/base-a-fp8": "llama-3.1-8b-shape", "q/base-a-awq": "llama-3.1-8b-shape",
    "meta/base-a-gptq": "llama-3.1-8b-shape", "meta/base-b": "gemma-2b-shape", "q/base-b-bnb8": "gemma-2b-shape",
    "m/mlx-4bit": "gemma-2b-shape",
}  # fmt: skip


def _store_configs(db: Any) -> None:
    """`model_configs` rows of the text models, as the header pass stores them (KV cache)."""
    from hubcensus.crawler.config_pass import config_row
    from hubcensus.db.config_store import store_configs
    from kv_configs import load

    rows = []
    for model_id, name in KV_CONFIGS.items():
        config = load(name)
        rows.append(config_row(model_id, hashlib.sha1(model_id.encode()).hexdigest(), config))
    store_configs(db, rows)


def run_query(path: Path, name: str, since: datetime | None = None) -> list[dict[str, Any]]:
    """One named query of `analysis.queries` on the database at `path`, opened read-only."""
    from hubcensus.analysis import queries
    from hubcensus.analysis.connect import open_readonly

    db = open_readonly(path)
    try:
        return queries.run(db.con, name, since)
    finally:
        db.close()


def figures_of(text: str) -> list[str]:
    """The figures of a sentence (every word holding a digit: counts, shares, months, dtypes like F8),
    so tests pin the numbers and not the wording around them."""
    return [word.rstrip(".,;:)") for word in re.findall(r"[\w./%-]*\d[\w./%,-]*", text)]
