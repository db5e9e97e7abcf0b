"""The one storage-format CASE (`v_models.dtype_family`), rule by rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database

CASES = [
    # (dominant_dtype, quant_method, bits_per_param, gguf_total) -> dtype_family
    (("F32", "none", 32.0, None), "F32"),
    (("F16", "none", 16.0, None), "F16"),
    (("BF16", "none", 16.0, None), "BF16"),
    (("F64", "none", 64.0, None), "other"),
    ((None, None, None, None), None),
    ((None, "gguf", None, 7_000_000_000), "GGUF"),
    ((None, None, None, 1_000_000), "GGUF"),
    (("F8_E4M3", "fp8", 8.2, None), "F8"),
    (("BF16", "fp8", None, None), "F8"),
    (("F8_E5M2", "none", 8.0, None), "F8"),
    (("F4", "nvfp4", 4.5, None), "4-bit"),
    (("U8", "mxfp4", 4.25, None), "4-bit"),
    (("BF16", "bnb-4bit", None, None), "4-bit"),
    (("I8", "bnb-8bit", 8.5, None), "INT8"),
    (("BF16", "bnb-8bit", None, None), "INT8"),
    (("I32", "gptq", 4.3, None), "4-bit"),
    (("I32", "gptq", 7.4, None), "4-bit"),  # small model, big F16 embeddings
    (("I32", "gptq", 8.2, None), "INT8"),  # 8-bit GPTQ
    (("F16", "awq", None, None), "4-bit"),  # tiny AWQ: F16 holds most bytes, bits unknown
    (("U32", "mlx", 4.5, None), "4-bit"),
    (("BF16", "mlx", 16.0, None), "BF16"),  # an unquantized MLX conversion
    (("BF16", "compressed-tensors", None, None), "4-bit"),
    (("I8", "compressed-tensors", 8.3, None), "INT8"),
    (("I8", "none", None, None), "INT8"),
    (("I64", "none", 64.0, None), "other"),
    (("U32", "none", 32.0, None), "other"),
]


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    db = open_database(tmp_path_factory.mktemp("family") / "f.duckdb")
    try:
        rows = [
            {"model_id": f"t/m{i}", "created_at": datetime(2025, 1, 1), "sha": f"{i:040d}", "dominant_dtype": dominant,
             "quant_method": quant, "bits_per_param": bits, "gguf_total": gguf, "weights_source": "header"}
            for i, ((dominant, quant, bits, gguf), _) in enumerate(CASES)
        ]  # fmt: skip
        run = store.start_run(db, mode="full", endpoint="e", version="t")
        listing_store.store_listing_page(db, rows, run_id=run, seen_at=datetime(2025, 2, 1))
        return dict(db.con.execute("SELECT model_id, dtype_family FROM v_models").fetchall())
    finally:
        db.close()


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[str(c[0]) for c in CASES])
def test_dtype_family(families: dict[str, str | None], index: int, case: tuple) -> None:
    _, expected = case
    assert families[f"t/m{index}"] == expected


def test_no_other_copy_of_the_case() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = [*root.joinpath("analysis").glob("*.py"), root / "db" / "views.sql"]
    holders = [p.name for p in sources if "'bnb-4bit', 'f4'" in p.read_text(encoding="utf-8")]
    assert holders == ["views.sql"]
