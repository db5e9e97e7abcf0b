"""What the GGUF parser returns (pure dataclasses and tables; `crawler.formats.gguf` reads the bytes).

The ggml type table and the file-type labels come from the `gguf` package (llama.cpp's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

STRING_TYPE, ARRAY_TYPE = 8, 9
"""GGUF value types of strings and arrays (gguf.GGUFValueType)."""

GGML_TYPES: dict[int, tuple[str, int, int]] = {
    int(t): (t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType if t in GGML_QUANT_SIZES
}
"""ggml type id -> (name, block size in elements, bytes per block)."""


class GGUFError(ValueError):
    """A GGUF header that cannot be trusted; the message is one line."""


@dataclass(frozen=True)
class Need:
    """Fetch at least `length` bytes from `offset` (`hint`: how many the parser expects to use)."""

    offset: int
    length: int
    hint: int


@dataclass(frozen=True)
class ArrayInfo:
    """Where an array value sits and how long it is (what a sibling file can skip)."""

    elem_type: int
    count: int
    offset: int
    """First element."""
    nbytes: int
    """Bytes of the elements."""
    kv_start: int = 0
    """Where the KV (its key) begins."""


@dataclass(frozen=True)
class Run:
    """Consecutive array KVs a sibling file holds byte-identical (tokens, scores, token types, merges):
    jumped in one go. Offsets are relative to the first array's first element."""

    nbytes: int
    arrays: tuple[tuple[str, int, int, int, int, int], ...]
    """(key, element type, count, KV start, first element, element bytes) of each array of the run."""


@dataclass
class TypeTotals:
    """Tensors, parameters (elements) and bytes of one ggml type."""

    tensors: int = 0
    parameters: int = 0
    bytes: int = 0


@dataclass
class GGUFInfo:
    """One parsed GGUF header. `data_end`: the end of the last tensor's data, relative to `data_offset`."""

    version: int
    big_endian: bool
    tensor_count: int
    kv_count: int
    alignment: int
    header_end: int
    data_offset: int
    data_end: int
    tensor_bytes: int
    parameters: int
    metadata: dict[str, Any]
    arrays: dict[str, ArrayInfo]
    types: dict[str, TypeTotals]
    file_size: int | None = None
    skipped: list[str] = field(default_factory=list)
    """Arrays jumped by a sibling's byte length (their content was not seen)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def file_type(self) -> int | None:
        value = self.metadata.get("general.file_type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def file_type_label(self) -> str | None:
        """'Q4_K_M', 'F16', 'BF16', ... from `general.file_type` (llama.cpp's LlamaFileType)."""
        return file_type_label(self.file_type)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def _arch_int(self, name: str) -> int | None:
        value = self.metadata.get(f"{self.architecture}.{name}") if self.architecture else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def context_length(self) -> int | None:
        return self._arch_int("context_length")

    @property
    def block_count(self) -> int | None:
        return self._arch_int("block_count")

    @property
    def expert_layout(self) -> tuple[int, int | None]:
        """(`{arch}.expert_count`, `{arch}.expert_used_count`): (0, None) for a dense model."""
        return self._arch_int("expert_count") or 0, self._arch_int("expert_used_count")

    def split(self) -> tuple[int | None, int | None, int | None]:
        """(split.no, split.count, split.tensors.count) as stored (split.no counts from 0)."""
        out = []
        for key in ("split.no", "split.count", "split.tensors.count"):
            value = self.metadata.get(key)
            out.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
        return out[0], out[1], out[2]

    def expected_sizes(self) -> tuple[int, int]:
        """File sizes this header explains exactly: data padded to the alignment, and unpadded."""
        padded = self.data_offset + align(self.data_end, self.alignment)
        return padded, self.data_offset + self.data_end

    def matches_size(self, size: int) -> bool:
        """Whether `size` is exactly the header + the tensor data (padded or not)."""
        return size in self.expected_sizes()


def file_type_label(file_type: int | None) -> str | None:
    """llama.cpp's name of a `general.file_type` value without its MOSTLY_/ALL_ prefix; None if unknown."""
    if file_type is None:
        return None
    try:
        name = LlamaFileType(file_type).name
    except ValueError:
        return None
    if name == "GUESSED":
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def ggml_type_name(type_id: int) -> str | None:
    """'Q4_K', 'F32', ... for a ggml type id the gguf package knows, else None."""
    entry = GGML_TYPES.get(type_id)
    return entry[0] if entry else None


def align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def skip_table(info: GGUFInfo) -> dict[tuple[str, int, int], Run]:
    """What a sibling variant can jump: from each string array, the run of array KVs that follow it
    back to back, keyed by the first array's (key, element type, count)."""
    arrays = sorted(((a.kv_start, k, a) for k, a in info.arrays.items()), key=lambda x: x[0])
    out: dict[tuple[str, int, int], Run] = {}
    for i, (_, key, first) in enumerate(arrays):
        if first.elem_type != STRING_TYPE or key in info.skipped:
            continue
        members = [(key, first)]
        for _, k, a in arrays[i + 1 :]:
            last = members[-1][1]
            if a.kv_start != last.offset + last.nbytes or k in info.skipped:
                break
            members.append((k, a))
        last = members[-1][1]
        out[(key, first.elem_type, first.count)] = Run(
            last.offset + last.nbytes - first.offset,
            tuple(
                (k, a.elem_type, a.count, a.kv_start - first.offset, a.offset - first.offset, a.nbytes)
                for k, a in members
            ),
        )
    return out


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
