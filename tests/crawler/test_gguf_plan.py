"""The GGUF read plan over in-memory files: variants and shards from names, read order, sibling skips
accepted only when the size lines up, and the fallback to a full read when a sibling's tokenizer differs."""

from __future__ import annotations

from hubcensus.crawler.files.gguf_plan import (
    GGUFEntry,
    entries_from_info,
    read_order,
    read_repo_files,
    variant_of,
)
from hubcensus.fakehub.gguf_repos import ModelSpec, variant_files


class Files:
    """Files as bytes (zeros past the stored header), counting what is read."""

    def __init__(self, files: dict[str, tuple[bytes, int]]) -> None:
        self.files = files
        self.reads: list[tuple[str, int, int]] = []

    def range_get(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> bytes:
        data, size = self.files[path]
        self.reads.append((path, start, end))
        end = min(end, size - 1)
        part = data[start : end + 1]
        return part + bytes(end + 1 - start - len(part))


def test_variant_names_and_order() -> None:
    assert variant_of("Q4_K_M/Model-Q4_K_M-00002-of-00003.gguf") == ("Q4_K_M/Model-Q4_K_M", 2, 3)
    assert variant_of("model.Q8_0.gguf") == ("model.Q8_0", 1, 1)
    entries = [GGUFEntry(p, 1) for p in ("mmproj-f16.gguf", "m-Q8-00002-of-00002.gguf", "m-Q8-00001-of-00002.gguf",
                                         "m-F16.gguf")]  # fmt: skip
    assert [e.path for e in read_order(entries)] == [
        "m-F16.gguf", "m-Q8-00001-of-00002.gguf", "m-Q8-00002-of-00002.gguf", "mmproj-f16.gguf",
    ]  # fmt: skip
    info = {"siblings": [{"rfilename": "a.gguf", "size": 10, "lfs": {"size": 10}}, {"rfilename": "README.md", "size": 3}]}
    assert entries_from_info(info) == [GGUFEntry("a.gguf", 10)]


def _file(spec: ModelSpec, label: str) -> tuple[str, bytes, int, dict]:
    f = variant_files(spec, "m", label)[0]
    return f.path, b"".join(f.segments), f.size, f.truth


def test_skip_when_identical_fallback_when_not() -> None:
    small = ModelSpec("llama", 2, 256, 512, 256, 20_000, 4096, merges=30_000)
    other = ModelSpec("llama", 2, 256, 512, 256, 20_000, 4096, merges=30_000, scores=True)  # same counts, more KVs
    files = [_file(small, "F16"), _file(small, "Q4_K_M"), _file(other, "Q8_0")]
    source = Files({p: (data, size) for p, data, size, _ in files})
    reads = {r.entry.path: r for r in read_repo_files(source, "m", [GGUFEntry(p, s) for p, _, s, _ in files], "main")}
    truth = {p: t for p, _, _, t in files}
    for path, read in reads.items():
        assert read.info is not None and read.error is None, path
        got = {k: (v.tensors, v.parameters, v.bytes) for k, v in read.info.types.items()}
        assert got == truth[path]["types"], path
    first, sibling, different = (reads[p] for p, _, _, _ in files)
    assert not first.skipped and not first.fell_back
    assert sibling.skipped and not sibling.fell_back and sibling.bytes_read < first.bytes_read // 10
    # the third file's token and merge counts match, but a scores array sits between them: the
    # skip lands wrong, the size check refuses it and the file is read again in full
    assert different.fell_back
