"""Real repo layouts through fakehub and the header pass: one weight set, sizes exactly as the Hub states."""

from __future__ import annotations

import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

from builders import GPT_OSS_20B, gpt_oss_original_tensors, gpt_oss_tensors, header_json, write_header_only
from hubcensus.analysis.explain import explain, render
from hubcensus.crawler.deep import run_deep
from hubcensus.crawler.hub import make_client
from hubcensus.db import listing_store, store
from hubcensus.db.connection import open_database

GPT_OSS_SHARDS = 3  # model-00000-of-00002 .. model-00002-of-00002, as published


def _write_repo(root: Path, repo_id: str, files: dict[str, Any], sizes: dict[str, int], config: dict) -> None:
    folder = root / repo_id
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "hub.json").write_text(json.dumps({"file_sizes": sizes, "config": config}))


def _listed_and_read(tmp_path: Path, hub: Any, model_id: str) -> Any:
    truth = hub.catalog.truth(model_id)
    db = open_database(tmp_path / "layouts.duckdb")
    run = store.start_run(db, mode="full", endpoint=hub.url, version="test")
    row = {"model_id": model_id, "sha": truth["sha"], "weight_files": sorted(truth["file_sizes"]),
           "quant_config": truth["config"], "weights_source": "hub", "model_type": truth["config"].get("model_type")}  # fmt: skip
    listing_store.store_listing_page(db, [row], run_id=run, seen_at=datetime(2026, 11, 1))
    summary = run_deep(db, make_client(hub.url, None), run_id=run, selection="all", workers=2)
    assert (summary.stored, summary.unreadable, summary.failed) == (1, 0, 0)
    return db


def test_gpt_oss_20b_counts_once_with_its_original_copy_ignored(fakehub_server, tmp_path: Path) -> None:
    tensors = gpt_oss_tensors(GPT_OSS_20B)
    per = -(-len(tensors) // GPT_OSS_SHARDS)
    repo = tmp_path / "hub" / "openai" / "gpt-oss-20b"
    sizes, weight_map = {}, {}
    for k in range(GPT_OSS_SHARDS):
        name = f"model-{k:05d}-of-{GPT_OSS_SHARDS - 1:05d}.safetensors"
        part = tensors[k * per : (k + 1) * per]
        sizes[name] = write_header_only(repo / name, part)
        weight_map.update({t[0]: name for t in part})
    sizes["original/model.safetensors"] = write_header_only(
        repo / "original/model.safetensors", gpt_oss_original_tensors(GPT_OSS_20B)
    )
    index = {"metadata": {"total_size": 13_761_300_000}, "weight_map": weight_map}
    config = {"model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}}
    _write_repo(
        tmp_path / "hub", "openai/gpt-oss-20b", {"model.safetensors.index.json": index}, sizes, config
    )
    hub = fakehub_server(repos=[tmp_path / "hub"])

    db = _listed_and_read(tmp_path, hub, "openai/gpt-oss-20b")
    effective, file_bytes = db.con.execute(
        "SELECT effective_params, file_bytes FROM models WHERE model_id = 'openai/gpt-oss-20b'"
    ).fetchone()
    assert effective == 20_914_757_184  # not 32,871,562,368: original/ is the same weights again
    rows = db.con.execute("SELECT path, size_bytes FROM safetensors_files ORDER BY path").fetchall()
    assert rows == sorted((p, s) for p, s in sizes.items() if not p.startswith("original/"))
    assert file_bytes == sum(s for p, s in sizes.items() if not p.startswith("original/"))
    routes = hub.stats.snapshot()["by_route"]
    assert routes["resolve_get"] == GPT_OSS_SHARDS  # one read per shard; the index and original/ are not read
    db.close()
    info = explain(tmp_path / "layouts.duckdb", "openai/gpt-oss-20b")
    assert info["ignored_files"] == [
        {"path": "original/model.safetensors", "reason": "alternate copy in original/"}
    ]
    assert "original/model.safetensors  (alternate copy in original/)" in render(info)


def test_file_bytes_are_the_stated_sizes_even_for_an_unpadded_header(fakehub_server, tmp_path: Path) -> None:
    """A pre-0.3 writer did not pad the header to 8 bytes: sizes come from Content-Range, never rebuilt."""
    specs = [("embeddings.weight", "F32", (3, 5)), ("layer.bias", "F16", (7,))]
    padded, data_len = header_json(specs)
    raw = padded.rstrip(b" ")
    assert len(raw) % 8  # unpadded, as old writers left it
    whole = struct.pack("<Q", len(raw)) + raw + bytes(data_len) + b"\x00" * 3  # and 3 trailing bytes
    repo = tmp_path / "hub"
    _write_repo(repo, "old/writer", {"model.safetensors": whole}, {}, {"model_type": "bert"})
    hub = fakehub_server(repos=[repo])

    db = _listed_and_read(tmp_path, hub, "old/writer")
    (size,) = db.con.execute("SELECT size_bytes FROM safetensors_files").fetchone()
    (file_bytes,) = db.con.execute("SELECT file_bytes FROM models").fetchone()
    assert size == file_bytes == len(whole) == (repo / "old/writer/model.safetensors").stat().st_size
    rebuilt = 8 + len(padded) + data_len  # what re-encoding a padded header would have claimed
    assert rebuilt != len(whole)
    db.close()
