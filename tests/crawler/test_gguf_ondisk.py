"""GGUF files on disk (`fakehub --repos DIR`, header-only, the full size declared in hub.json): a v1
file, a big-endian file in a subfolder, a GGUFWriter file and a lying one, crawled and stored exactly."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import gguf
import numpy as np
from hubcensus.crawler.hub import make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.app import FakeHubConfig, start
from hubcensus.fakehub.gguf_repos import LLAMA2_7B, variant_files


def _writer_file(path: Path) -> dict[str, tuple[int, int, int]]:
    """A small v3 file with real data, written by GGUFWriter; its per-type figures from GGUFReader."""
    w = gguf.GGUFWriter(path, "qwen2")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_context_length(32768)
    w.add_tensor("token_embd.weight", np.zeros((16, 34 * 8), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("output_norm.weight", np.ones(256, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out: dict[str, list[int]] = {}
    for t in gguf.GGUFReader(path).tensors:
        row = out.setdefault(t.tensor_type.name, [0, 0, 0])
        row[0] += 1
        row[1] += int(t.n_elements)
        row[2] += int(t.n_bytes)
    return {k: (a, b, c) for k, (a, b, c) in out.items()}


def test_on_disk_gguf_repo_is_stored_exactly(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "acme" / "llama-7b-GGUF"
    (repo / "BE").mkdir(parents=True)
    v1 = variant_files(LLAMA2_7B, "llama-7b", "Q4_0", version=1)[0]
    be = variant_files(LLAMA2_7B, "llama-7b", "Q5_K_M", big_endian=True)[0]
    (repo / "llama-7b-Q4_0.gguf").write_bytes(b"".join(v1.segments))
    (repo / "BE" / "llama-7b-Q5_K_M.gguf").write_bytes(b"".join(be.segments))
    writer_types = _writer_file(repo / "tiny-Q8_0.gguf")
    liar = b"".join(variant_files(LLAMA2_7B, "liar", "Q8_0")[0].segments)
    (repo / "liar-Q8_0.gguf").write_bytes(liar)
    sizes = {"llama-7b-Q4_0.gguf": v1.size, "BE/llama-7b-Q5_K_M.gguf": be.size, "liar-Q8_0.gguf": 1_000_000_000}
    (repo / "hub.json").write_text(json.dumps({
        "file_sizes": sizes, "createdAt": "2023-08-30T00:00:00.000Z", "tags": ["gguf", "llama"],
        "gguf": {"total": v1.truth["parameters"], "architecture": "llama"},
    }))  # fmt: skip
    db_path = tmp_path / "c.duckdb"
    with start(FakeHubConfig(repos=[tmp_path / "hub"])) as hub, open_database(db_path) as db:
        summary = crawl(db, make_client(hub.url, None), CrawlOptions(full=True, deep="all"), handle_signals=False)
    assert summary.status == "ok"
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT path, status, version, tensor_count, parameters, size_bytes, file_type_label, "
                "architecture, error FROM gguf_files"
            ).fetchall()
        }
        types: dict[str, dict[str, tuple[int, int, int]]] = {}
        for path, t, a, b, c in con.execute("SELECT path, ggml_type, tensors, parameters, bytes FROM gguf_types").fetchall():
            types.setdefault(path, {})[t] = (a, b, c)
    for path, f, version in (("llama-7b-Q4_0.gguf", v1, 1), ("BE/llama-7b-Q5_K_M.gguf", be, 3)):
        assert rows[path][:7] == ("ok", version, f.truth["tensor_count"], f.truth["parameters"], f.size,
                                  f.truth["file_type_label"], "llama"), path  # fmt: skip
        assert types[path] == f.truth["types"], path
    tiny = (repo / "tiny-Q8_0.gguf").stat().st_size
    assert rows["tiny-Q8_0.gguf"][:7] == ("ok", 3, 2, 16 * 256 + 256, tiny, "Q8_0", "qwen2")
    assert types["tiny-Q8_0.gguf"] == writer_types
    status, *_, error = rows["liar-Q8_0.gguf"]
    assert status == "error" and "past the file size" in error  # declares 1 GB, tensors need 7 GB
