"""Bounded memory whatever the Hub sends: the 25 MB header cap before download, one shared budget."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from builders import write_header_only
from hubcensus.crawler.deep import header_budget
from hubcensus.crawler.files.budget import MemoryBudget
from hubcensus.crawler.files.headers import FIRST_READ_BYTES, PARSE_COST, read_file_header
from hubcensus.crawler.formats.safetensors import MAX_HEADER_BYTES, HeaderError
from hubcensus.crawler.hub import Ranged, make_client


class Counting:
    """The real client, recording every range it asked for."""

    def __init__(self, client: Any) -> None:
        self.client, self.asked = client, []

    def read_range(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> Ranged:
        self.asked.append((path, start, end))
        return self.client.read_range(model_id, path, start, end, revision)


def _repo(root: Path, files: dict[str, bytes], sizes: dict[str, int]) -> Path:
    folder = root / "big" / "headers"
    folder.mkdir(parents=True)
    for path, content in files.items():
        (folder / path).write_bytes(content)
    (folder / "hub.json").write_text(json.dumps({"file_sizes": sizes}))
    return root


def test_a_header_over_the_cap_is_refused_before_download(fakehub_server, tmp_path: Path) -> None:
    claimed = 99_000_000  # the scenario: just under the old 100 MB limit
    files = {"model.safetensors": struct.pack("<Q", claimed) + b'{"a":'}
    hub = fakehub_server(repos=[_repo(tmp_path, files, {"model.safetensors": 8 + claimed + 4096})])
    source = Counting(make_client(hub.url, None))
    with pytest.raises(
        HeaderError, match=f"header length 99,000,000 exceeds the cap of {MAX_HEADER_BYTES:,}"
    ):
        read_file_header(source, "big/headers", "model.safetensors", "main")
    assert MAX_HEADER_BYTES == 25_000_000
    assert source.asked == [("model.safetensors", 0, FIRST_READ_BYTES - 1)]  # the header itself: never asked


def test_long_headers_share_one_budget(fakehub_server, tmp_path: Path) -> None:
    specs = [(f"model.layers.{i}.mlp.experts.{j}.w", "BF16", (8, 8)) for i in range(40) for j in range(100)]
    names = [f"model-{k:05d}-of-00004.safetensors" for k in range(1, 5)]
    sizes = {}
    root = tmp_path / "hub" / "big" / "headers"
    for name in names:
        sizes[name] = write_header_only(root / name, specs)
    (root / "hub.json").write_text(json.dumps({"file_sizes": sizes}))
    header_len = int.from_bytes((root / names[0]).read_bytes()[:8], "little")
    assert header_len > FIRST_READ_BYTES  # every file needs its second read
    hub = fakehub_server(repos=[tmp_path / "hub"])
    client = make_client(hub.url, None)
    budget = MemoryBudget(PARSE_COST * header_len * 3 // 2)  # room for one long header at a time
    read, errors = [], []

    def work(name: str) -> None:
        try:
            read.append(read_file_header(client, "big/headers", name, "main", budget=budget))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(h.path for h in read) == names
    assert {(len(h.tensors), h.file_size) for h in read} == {(4000, sizes[names[0]])}
    assert budget.peak == PARSE_COST * header_len <= budget.capacity and budget.used == 0
    source = Counting(client)
    read_file_header(source, "big/headers", names[0], "main")
    # the second read asks only for the part of the header the first did not bring
    assert source.asked == [(names[0], 0, FIRST_READ_BYTES - 1), (names[0], FIRST_READ_BYTES, header_len + 7)]


def test_header_budget_is_half_the_memory_limit() -> None:
    assert header_budget(512).capacity == 256 * 2**20
    assert header_budget(None).capacity == 256 * 2**20  # no limit given: the default's half
    assert header_budget(2048).capacity == 1024 * 2**20
    tiny = MemoryBudget(10)
    with tiny.hold(10**9) as held:  # a single read larger than the whole budget still goes, alone
        assert held == 10 and tiny.used == 10
    assert tiny.used == 0
