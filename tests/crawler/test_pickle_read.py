"""read_pickle_header: range reads through a source that counts its calls (one for the real fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubcensus.crawler.files.budget import MemoryBudget
from hubcensus.crawler.files.pickles import read_pickle_header
from hubcensus.crawler.formats.safetensors import HeaderError
from hubcensus.crawler.hub import Ranged
from torch_bytes import dict_of, legacy_checkpoint, pickle_of, tensor, zip_checkpoint

FIXTURES = Path(__file__).resolve().parents[2] / "../shared/fixtures/pickle"


class Source:
    """An in-memory file answering range reads like the Hub (with the stated size)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.calls = data, []

    def read_range(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> Ranged:
        self.calls.append((start, end))
        return Ranged(self.data[start : end + 1], len(self.data))


def test_every_fixture_is_read_in_one_range_read() -> None:
    files = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".pt", ".bin") and p.name != "broken.pt")
    if not files:
        pytest.skip(f"{FIXTURES} is absent (real checkpoints live in ../shared/fixtures/pickle)")
    for f in files:
        src = Source(f.read_bytes())
        h = read_pickle_header(src, "m/x", f.name, "main")
        assert src.calls == [(0, 262_143)], f.name
        assert h.file_size == f.stat().st_size and len(h.tensors) >= 1


def test_data_pkl_not_first_costs_a_second_read_and_beyond_the_first_read_a_third() -> None:
    body = pickle_of(dict_of(("w", tensor("0", "FloatStorage", 4, (4,)))))
    small = zip_checkpoint(body, {"0": bytes(16)}, first=[("byteorder", b"little")])
    src = Source(small)  # the first read holds the whole file, central directory included
    assert read_pickle_header(src, "m/x", "x.pt", "main").dtype_totals() == {"F32": (4, 16)}
    assert len(src.calls) == 1
    near = zip_checkpoint(body, {"0": bytes(16), "big": bytes(400_000)}, first=[("byteorder", b"little")])
    src = Source(near)
    assert read_pickle_header(src, "m/x", "x.pt", "main").dtype_totals() == {"F32": (4, 16)}
    assert len(src.calls) == 2 and src.calls[1][1] == len(near) - 1
    far = zip_checkpoint(body, {"0": bytes(16), "big": bytes(400_000)}, first=[("extra", bytes(400_000))])
    src = Source(far)
    assert read_pickle_header(src, "m/x", "x.pt", "main").dtype_totals() == {"F32": (4, 16)}
    assert len(src.calls) == 3


def test_a_long_legacy_head_costs_a_second_read_under_the_budget() -> None:
    n = 3_000
    main = pickle_of(dict_of(*((f"encoder.layer.{i}.attention.self.query.weight", tensor(str(i), "HalfStorage", 2, (2,)))
                               for i in range(n))))  # fmt: skip
    data = legacy_checkpoint(main, {str(i): (2, bytes(4)) for i in range(n)})
    assert len(data) > 262_144
    src, budget = Source(data), MemoryBudget(100_000_000)
    h = read_pickle_header(src, "m/x", "pytorch_model.bin", "main", budget=budget)
    assert len(src.calls) == 2 and len(h.tensors) == n and h.dtype_totals() == {"F16": (2 * n, 4 * n)}
    assert budget.peak > 0 and budget.used == 0


def test_bad_files_are_one_header_error_after_one_read() -> None:
    src = Source(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    with pytest.raises(HeaderError, match="Git LFS pointer"):
        read_pickle_header(src, "m/x", "pytorch_model.bin", "main")
    assert len(src.calls) == 1
