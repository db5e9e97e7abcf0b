"""Known-answer and hostile-input tests of the bounded safetensors header parser."""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from builders import LLAMA3_8B, LlamaConfig, header_bytes, llama_tensors, numel, write_header_only
from hubcensus.crawler.formats.safetensors import (
    FileHeader,
    HeaderError,
    NeedBytes,
    Tensor,
    TensorTable,
    parse_header,
    read_length_prefix,
    split_prefix,
)
from huggingface_hub.hf_api import _parse_safetensors_header
from safetensors import safe_open
from safetensors.numpy import save_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
MINILM = FIXTURES / "sentence-transformers" / "all-MiniLM-L6-v2"


def raw_header(head: dict | list | str) -> bytes:
    """u64 prefix + JSON of an arbitrary (possibly hostile) header object."""
    body = json.dumps(head).encode() if not isinstance(head, str) else head.encode()
    return struct.pack("<Q", len(body)) + body


def parse_raw(prefix: bytes, file_size: int | None = None, **kw) -> FileHeader:
    result = split_prefix(prefix, path="m.safetensors", file_size=file_size, **kw)
    assert isinstance(result, FileHeader)
    return result


def entry(dtype: str, shape: list, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def hf_counts(prefix: bytes) -> dict[str, int]:
    """huggingface_hub's own per-dtype parameter count for the same header bytes."""
    n = struct.unpack("<Q", prefix[:8])[0]
    return dict(_parse_safetensors_header(prefix[8 : 8 + n], "m.safetensors", "test").parameter_count)


# --- the real fixture ------------------------------------------------------------------------------


def test_minilm_fixture_known_answer() -> None:
    real_size = json.loads((MINILM / "hub.json").read_text())["file_sizes"]["model.safetensors"]
    assert real_size == 90_868_376
    prefix = (MINILM / "model.safetensors").read_bytes()  # header-only copy of the real file
    h = parse_raw(prefix, file_size=real_size)
    assert h.header_len == 11_408
    assert len(h.tensors) == 104  # 105 JSON keys including __metadata__
    assert h.metadata == {"format": "pt"}
    assert h.dtype_totals() == {"I64": (512, 4_096), "F32": (22_713_216, 90_852_864)}
    assert h.file_size == real_size == 8 + 11_408 + h.data_end
    assert h.warnings == [] and h.unknown_dtypes == []
    assert h.tensors[0] == Tensor("embeddings.position_ids", "I64", (1, 512), 4_096)
    assert {d: n for d, (n, _) in h.dtype_totals().items()} == hf_counts(prefix)
    d = h.to_dict()
    assert (d["tensor_count"], d["format"], d["parameters"]) == (104, "pt", {"F32": 22_713_216, "I64": 512})
    json.dumps(d)


def test_minilm_fixture_without_a_stated_size_has_none() -> None:
    h = parse_raw((MINILM / "model.safetensors").read_bytes())
    assert (h.file_size, 8 + h.header_len + h.data_end) == (None, 90_868_376)


# --- real small files written with the safetensors library -----------------------------------------


def test_real_file_matches_safe_open(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "model.layers.0.self_attn.q_proj.qweight": rng.integers(0, 2**31, (32, 256), dtype=np.int32),
        "model.layers.0.self_attn.q_proj.scales": rng.random((2, 256)).astype(np.float16),
        "model.layers.0.self_attn.q_proj.g_idx": np.zeros(256, dtype=np.int32),
        "model.norm.weight": rng.random(256).astype(np.float32),
        "scalar": np.array(3.0, dtype=np.float64),
        "empty": np.zeros((0, 7), dtype=np.uint8),
        "flags": np.ones(5, dtype=bool),
    }
    path = tmp_path / "model.safetensors"
    save_file(arrays, str(path), metadata={"format": "np", "note": "x"})
    data = path.read_bytes()
    h = parse_raw(data[:100_001], file_size=len(data))
    assert h.file_size == len(data) == path.stat().st_size
    assert h.metadata == {"format": "np", "note": "x"}
    with safe_open(str(path), framework="np") as f:
        expected = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}  # noqa: SIM118
    assert {t.name: (t.dtype, t.shape) for t in h.tensors} == expected
    assert {t.name: t.nbytes for t in h.tensors} == {k: v.nbytes for k, v in arrays.items()}
    assert {d: n for d, (n, _) in h.dtype_totals().items()} == hf_counts(data)
    assert h.dtype_totals()["F64"] == (1, 8) and h.dtype_totals()["U8"] == (0, 0)


# --- prefix handling -------------------------------------------------------------------------------


def test_split_prefix_asks_for_the_rest_of_a_big_header() -> None:
    tensors = llama_tensors(LLAMA3_8B, "gptq")
    prefix, size = header_bytes(tensors)
    n = len(prefix) - 8
    assert n > 100_001 - 8
    need = split_prefix(prefix[:100_001], path="model.safetensors", file_size=size)
    assert need == NeedBytes(n) and need.range_header == f"bytes=8-{n + 7}"
    h = parse_header(prefix[8 : 8 + n], path="model.safetensors", header_len=n, file_size=size)
    assert len(h.tensors) == len(tensors) and h.file_size == size
    assert sum(e for e, _ in h.dtype_totals().values()) == numel(tensors)
    assert {d: e for d, (e, _) in h.dtype_totals().items()} == hf_counts(prefix)


def test_write_header_only_roundtrip(tmp_path: Path) -> None:
    tensors = llama_tensors(LlamaConfig(), "bf16")
    size = write_header_only(tmp_path / "m.safetensors", tensors, {"format": "pt"})
    h = parse_raw((tmp_path / "m.safetensors").read_bytes(), file_size=size)
    assert size == 8 + h.header_len + 2 * LlamaConfig().parameter_count()
    assert [(t.name, t.dtype, t.shape) for t in h.tensors] == tensors


def test_tensor_table_from_tensors_and_slicing() -> None:
    rows = [Tensor("a", "BF16", (2, 3), 12), Tensor("b", "F32", (), 4)]
    table = TensorTable.from_tensors(rows)
    assert list(table) == rows and table[-1] == rows[1] and table[0:2] == rows
    assert table.totals() == {"BF16": (6, 12), "F32": (1, 4)} and table[1].numel == 1


# --- hostile inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first8", "message"),
    [
        (
            struct.pack("<Q", 2**63),
            "header length 9,223,372,036,854,775,808 exceeds the cap of 25,000,000 bytes",
        ),
        (struct.pack("<Q", 10 * 10**9), "header length 10,000,000,000 exceeds the cap of 25,000,000 bytes"),
        (struct.pack("<Q", 0), "header length is 0"),
        (b"\x01\x02\x03", "length prefix needs 8 bytes, got 3"),
    ],
)
def test_length_prefix_rejected_before_reading(first8: bytes, message: str) -> None:
    with pytest.raises(HeaderError) as err:
        read_length_prefix(first8)
    assert str(err.value) == message and "\n" not in message
    with pytest.raises(HeaderError):  # split_prefix refuses before touching anything else
        split_prefix(first8 + b"{}", path="x")


def test_length_prefix_custom_cap_and_file_size() -> None:
    assert read_length_prefix(struct.pack("<Q", 25_000_000), max_header_bytes=25_000_000) == 25_000_000
    with pytest.raises(HeaderError, match="exceeds the cap of 25,000,000"):
        read_length_prefix(struct.pack("<Q", 25_000_001), max_header_bytes=25_000_000)
    with pytest.raises(HeaderError, match="runs past the file size 100"):
        split_prefix(struct.pack("<Q", 200) + b"{}", path="x", file_size=100)


def test_header_cut_short() -> None:
    prefix = raw_header({"a": entry("F32", [4], 0, 16)})
    with pytest.raises(HeaderError, match=r"x: header cut short: 10 of \d+ bytes"):
        parse_header(prefix[8:18], path="x", header_len=len(prefix) - 8)
    with pytest.raises(HeaderError) as err:  # the whole file is shorter than its header claims
        split_prefix(prefix[:-3], path="x", file_size=len(prefix) - 3)
    assert str(err.value) == f"x: header length {len(prefix) - 8} runs past the file size {len(prefix) - 3}"
    assert split_prefix(prefix[:-3], path="x") == NeedBytes(len(prefix) - 8)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": "\xff\xfe"}', "m.safetensors: header is not valid UTF-8 (byte 7)"),
        (
            b'{"a": {"dtype": "F32",',
            "m.safetensors: header is not valid JSON (Expecting property name enclosed in "
            "double quotes at char 22)",
        ),
        (b"[1, 2, 3]", "m.safetensors: header is a JSON list, not an object of tensors"),
        (b'"just a string"', "m.safetensors: header is a JSON str, not an object of tensors"),
        (
            b'{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}',
            "m.safetensors: header is a single tensor entry, not an object of tensors",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "m.safetensors: header JSON is nested too deeply"),
        (
            b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, ' + b"9" * 5000 + b"]}}",
            "m.safetensors: header JSON has a number too long to read",
        ),
    ],
)
def test_undecodable_headers(body: bytes, message: str) -> None:
    with pytest.raises(HeaderError) as err:
        parse_raw(struct.pack("<Q", len(body)) + body)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            {"a": entry("F32", [4], 0, 16), "b": entry("F32", [4], 8, 24)},
            "tensor 'b' at 8 overlaps 'a' ending at 16",
        ),
        (
            {"a": entry("F32", [4], 0, 12)},
            "tensor 'a': 12 bytes in data_offsets but shape [4] of F32 needs 16",
        ),
        ({"a": entry("F32", [-4], 0, 16)}, "tensor 'a': shape [-4] is not a list of non-negative integers"),
        (
            {"a": entry("F32", [True], 0, 4)},
            "tensor 'a': shape [True] is not a list of non-negative integers",
        ),
        ({"a": entry("F32", "4", 0, 16)}, "tensor 'a': shape '4' is not a list of non-negative integers"),
        (
            {"a": entry("F32", [4], 16, 0)},
            "tensor 'a': data_offsets [16, 0] is not [begin, end] with 0 <= begin <= end",
        ),
        (
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0]}},
            "tensor 'a': data_offsets [0] is not [begin, end] with 0 <= begin <= end",
        ),
        ({"a": {"dtype": 7, "shape": [4], "data_offsets": [0, 16]}}, "tensor 'a': dtype is not a string"),
        ({"a": {"dtype": "F32", "shape": [4]}}, "tensor 'a': missing data_offsets"),
        ({"a": [1, 2]}, "tensor 'a': entry is a JSON list, not an object"),
        (
            {"a": entry("F32", [2**40, 2**40], 0, 16)},
            "tensor 'a': shape [1099511627776, 1099511627776] has too many elements",
        ),
    ],
)
def test_invalid_entries(head: dict, message: str) -> None:
    with pytest.raises(HeaderError) as err:
        parse_raw(raw_header(head))
    assert str(err.value) == f"m.safetensors: {message}"


def test_duplicate_names_rejected() -> None:
    body = b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}'
    with pytest.raises(HeaderError, match="duplicate tensor name 'a'"):
        parse_raw(struct.pack("<Q", len(body)) + body)


def test_offsets_beyond_file_size() -> None:
    prefix = raw_header({"a": entry("F32", [4], 0, 16)})
    with pytest.raises(HeaderError) as err:
        parse_raw(prefix, file_size=len(prefix) + 15)
    assert str(err.value) == "m.safetensors: tensor data ends at 16 but the file holds 15 data bytes"
    h = parse_raw(prefix, file_size=len(prefix) + 20)
    assert h.warnings == ["4 trailing bytes after the tensor data"]
    assert (h.file_size, 8 + h.header_len + h.data_end) == (len(prefix) + 20, len(prefix) + 16)  # stated, not rebuilt


def test_gaps_are_warnings_and_zero_size_tensors_do_not_overlap() -> None:
    h = parse_raw(
        raw_header(
            {"a": entry("F32", [4], 8, 24), "z": entry("F32", [0], 12, 12), "b": entry("U8", [2], 30, 32)}
        )
    )
    assert h.warnings == ["2 gaps between tensors (14 unused bytes; data starts at 8)"]
    assert h.data_end == 32 and [t.nbytes for t in h.tensors] == [16, 0, 2]


def test_unknown_dtype_is_a_warning_and_still_counted() -> None:
    prefix = raw_header({"q": entry("Q4_K", [256], 0, 144), "w": entry("BF16", [8], 144, 160)})
    h = parse_raw(prefix, file_size=len(prefix) + 160)
    assert h.unknown_dtypes == ["Q4_K"]
    assert h.warnings == ["unknown dtypes (bytes counted from offsets): Q4_K"]
    assert h.dtype_totals() == {"Q4_K": (256, 144), "BF16": (8, 16)}


def test_metadata_tolerated_with_warnings() -> None:
    h = parse_raw(raw_header({"__metadata__": {"format": "pt", "n": 3}, "a": entry("U8", [1], 0, 1)}))
    assert h.metadata == {"format": "pt", "n": 3} and h.warnings == ["__metadata__ has non-string values"]
    h = parse_raw(raw_header({"__metadata__": ["x"], "a": entry("U8", [1], 0, 1)}))
    assert h.metadata is None and h.warnings == ["__metadata__ is a JSON list, not an object; ignored"]
    h = parse_raw(raw_header({"a": {"data_offsets": [0, 1], "shape": [1], "dtype": "U8"}}))
    assert h.warnings == [] and h.tensors[0] == Tensor("a", "U8", (1,), 1)  # any key order
    h = parse_raw(raw_header({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "extra": 1}}))
    assert (
        h.warnings == ["1 tensor entries carry keys besides dtype/shape/data_offsets"] and len(h.tensors) == 1
    )


def test_too_many_tensors() -> None:
    head = {f"t{i}": entry("U8", [1], i, i + 1) for i in range(11)}
    assert len(parse_raw(raw_header(head), max_tensors=11).tensors) == 11
    with pytest.raises(HeaderError, match="more than 10 tensors"):
        parse_raw(raw_header(head), max_tensors=10)


def test_a_quarter_million_tensors_bounded_memory() -> None:
    """Memory grows with the tensor count (about the most a 25 MB header holds; a million: bench/bench_parse.py)."""
    n = 250_000
    widths = [1 + i % 7 for i in range(n)]
    ends = np.cumsum(np.array(widths, dtype=np.int64) * 32).tolist()
    parts = [
        f'"layers.{i // 1000}.experts.{i % 1000}.w":{{"dtype":"BF16","shape":[16,{w}],'
        f'"data_offsets":[{e - 32 * w},{e}]}}'
        for i, (w, e) in enumerate(zip(widths, ends, strict=True))
    ]
    body = ("{" + ",".join(parts) + "}").encode()
    del parts
    prefix = struct.pack("<Q", len(body)) + body
    size = len(prefix) + ends[-1]
    tracemalloc.start()
    try:
        start = time.perf_counter()
        h = split_prefix(prefix, path="big.safetensors", file_size=size, max_header_bytes=100_000_000)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(h, FileHeader)
    assert len(h.tensors) == n and h.file_size == size
    assert h.dtype_totals() == {"BF16": (16 * sum(widths), 32 * sum(widths))}
    assert h.tensors[n - 1] == Tensor(f"layers.{(n - 1) // 1000}.experts.999.w", "BF16", (16, widths[-1]), 32 * widths[-1])
    print(
        f"{n:,} tensors, header {len(body) / 1e6:.0f} MB: peak {peak / 1e6:.0f} MB, {elapsed:.1f} s under tracemalloc"
    )
    assert peak < 450 * n  # bytes per tensor: the million-tensor bound (450 MB) scaled
