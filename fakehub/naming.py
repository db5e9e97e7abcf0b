"""Names and `_id`s of synthetic repos: the name part never changes, the owner changes with renames.

A mixin of `SyntheticSource` (it uses the source's seed, per-index arrays and epoch tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcensus.fakehub import layouts
from hubcensus.fakehub.rng import hash64, split3
from hubcensus.fakehub.specs import KINDS, WORDS, Kind

SUFFIX = {"gptq": "GPTQ", "awq": "AWQ", "bnb4": "bnb-4bit", "bnb8": "bnb-8bit", "fp8": "FP8", "nvfp4": "NVFP4",
          "ct": "W4A16", "mlx": "4bit-mlx", "gguf": "GGUF"}
ARCH_LIST = tuple(layouts.ARCHS)

if TYPE_CHECKING:
    import numpy as np
    from hubcensus.fakehub.epochs import EpochTable


class Naming:
    """Repo ids (current and former) and `_id`s by index."""

    seed: int
    kind: np.ndarray
    org: np.ndarray
    base: np.ndarray
    arch: np.ndarray
    created: np.ndarray
    _names: dict[int, str]
    _ids: dict[int, tuple[str, str]]
    _mids: dict[int, str]
    _org_names: list[str]

    def rows(self, epoch: int) -> int:
        raise NotImplementedError

    def _ensure(self, rows: int) -> None:
        raise NotImplementedError

    def table(self, epoch: int) -> EpochTable:
        raise NotImplementedError

    def _word(self, i: int, words: tuple[str, ...]) -> str:
        return words[int(split3(hash64(self.seed, i, 3))[2] * len(words))]

    def _name(self, i: int, kind: Kind) -> str:
        base = int(self.base[i])
        if base >= 0:
            return f"{self._word(base, WORDS['llm'])}-{ARCH_LIST[self.arch[base]]}-{SUFFIX[kind.name]}-{i:x}"
        return f"{self._word(i, WORDS.get(kind.name, WORDS['llm']))}-{ARCH_LIST[self.arch[i]]}-{i:x}"

    def name_of(self, i: int) -> str:
        """The name part (after the owner) of an index; it never changes."""
        got = self._names.get(i)
        if got is None:
            if len(self._names) > 100_000:
                self._names.clear()
            self._names[i] = got = self._name(i, KINDS[int(self.kind[i])])
        return got

    def _first(self, i: int) -> tuple[str, str]:
        """(first id, `_id`) of an index, cached."""
        got = self._ids.get(i)
        if got is None:
            if len(self._ids) > 300_000:  # (the old cache of ids alone held 500k: same memory)
                self._ids.clear()
            mid = self._mids.get(i >> 12)
            if mid is None:
                mid = self._mids[i >> 12] = f"{hash64(self.seed, i >> 12, 7) & 0xFF_FFFF_FFFF:010x}"
            hid = f"{(int(self.created[i]) // 1000) & 0xFFFFFFFF:08x}{mid}{i & 0xFFFFFF:06x}"
            name = self._names.get(i) or self._name(i, KINDS[int(self.kind[i])])
            got = self._ids[i] = (f"{self._org_names[int(self.org[i])]}/{name}", hid)
        return got

    def id_of(self, i: int, t: EpochTable | None = None) -> str:
        """The repo id of an index at the epoch of table `t` (None: its first name)."""
        if t is None or i not in t.former:
            return self._first(i)[0]
        return f"{self._org_names[int(t.org[i])]}/{self.name_of(i)}"

    def hub_id(self, i: int) -> str:
        """The `_id`: createdAt seconds (4 bytes), 5 seeded bytes (one value per block of 4096 indices, like a
        process's random part), then the index as the 3-byte counter."""
        return self._first(i)[1]

    def index_of_hub_id(self, hub_id: str, epoch: int) -> int | None:
        """The index carrying this `_id` at `epoch`, else None."""
        try:
            i = int(hub_id[-6:], 16)
        except ValueError:
            return None
        if len(hub_id) != 24 or i >= self.rows(epoch):
            return None
        self._ensure(self.rows(epoch))
        return i if self.hub_id(i) == hub_id else None

    def index_of(self, model_id: str, epoch: int) -> tuple[int, bool] | None:
        """(index, is the current name) of a current or former repo id at `epoch` (alive or not), else None."""
        try:
            i = int(model_id.rsplit("-", 1)[1], 16)
        except (IndexError, ValueError):
            return None
        if i >= self.rows(epoch):
            return None
        t = self.table(epoch)
        owner, _, name = model_id.partition("/")
        if name != self.name_of(i):
            return None
        if owner == self._org_names[int(t.org[i])]:
            return i, True
        if any(owner == self._org_names[code] for _, code in t.former.get(i, ())):
            return i, False
        return None

    def former_ids(self, i: int, epoch: int) -> list[str]:
        """The older names of index i at `epoch`, oldest first."""
        return [f"{self._org_names[code]}/{self.name_of(i)}" for _, code in self.table(epoch).former.get(i, ())]

    def renames(self, epoch: int) -> list[tuple[int, int, str, str]]:
        """Every rename up to `epoch`: (index, epoch of the rename, old id, new id)."""
        t = self.table(epoch)
        out = []
        for i, hist in t.former.items():
            codes = [c for _, c in hist] + [int(t.org[i])]
            for k, (e, _) in enumerate(hist):
                out.append((i, e, f"{self._org_names[codes[k]]}/{self.name_of(i)}",
                            f"{self._org_names[codes[k + 1]]}/{self.name_of(i)}"))
        return sorted(out, key=lambda x: (x[1], x[0]))
