"""Column-wise storage of a header's tensors: a million tensors cost their names plus ~50 bytes each."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from typing import NamedTuple, overload


class Tensor(NamedTuple):
    """One tensor of a header: name, dtype spelling, shape and bytes on disk."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def numel(self) -> int:
        """Number of stored elements (1 for a scalar)."""
        return math.prod(self.shape)


class TensorTable(Sequence[Tensor]):
    """Column-wise, read-only sequence of `Tensor`s in header order."""

    __slots__ = ("_codes", "_dim_end", "_dims", "_dtypes", "_names", "_nbytes", "_numel")

    def __init__(
        self,
        names: list[str],
        dtypes: list[str],
        codes: array,
        dim_end: array,
        dims: array,
        nbytes: array,
        numel: array,
    ) -> None:
        self._names, self._dtypes, self._codes = names, dtypes, codes
        self._dim_end, self._dims, self._nbytes, self._numel = dim_end, dims, nbytes, numel

    @classmethod
    def from_tensors(cls, tensors: Iterator[Tensor] | Sequence[Tensor]) -> TensorTable:
        """Build a table from `Tensor` tuples (no validation)."""
        b = Columns()
        names: list[str] = []
        for t in tensors:
            names.append(t.name)
            b.add(t.dtype, list(t.shape), 0, t.nbytes, math.prod(t.shape))
        return b.table(names, None)

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, i: int) -> Tensor: ...
    @overload
    def __getitem__(self, i: slice) -> list[Tensor]: ...
    def __getitem__(self, i: int | slice) -> Tensor | list[Tensor]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        start = self._dim_end[i - 1] if i else 0
        shape = tuple(self._dims[start : self._dim_end[i]])
        return Tensor(self._names[i], self._dtypes[self._codes[i]], shape, self._nbytes[i])

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    @property
    def names(self) -> list[str]:
        """Tensor names in header order."""
        return self._names

    @property
    def nbytes(self) -> Sequence[int]:
        """Bytes of each tensor, in header order."""
        return self._nbytes

    def totals(self) -> dict[str, tuple[int, int]]:
        """dtype -> (elements, bytes) summed over all tensors, exact integers."""
        elems = [0] * len(self._dtypes)
        nbytes = [0] * len(self._dtypes)
        for c, n, b in zip(self._codes, self._numel, self._nbytes, strict=True):
            elems[c] += n
            nbytes[c] += b
        used = set(self._codes)
        return {d: (elems[c], nbytes[c]) for c, d in enumerate(self._dtypes) if c in used}


class Columns:
    """Append-only column builder (filled while a header's JSON is being decoded)."""

    def __init__(self) -> None:
        self.codes_by_dtype: dict[str, int] = {}
        self.dtypes: list[str] = []
        self.codes = array("I")
        self.dim_end = array("Q")
        self.dims = array("Q")
        self.begin = array("Q")
        self.end = array("Q")
        self.numel = array("Q")
        self.extra_keys = 0

    def add(self, dtype: str, shape: list[int], begin: int, end: int, numel: int) -> int:
        code = self.codes_by_dtype.get(dtype)
        if code is None:
            code = self.codes_by_dtype[dtype] = len(self.dtypes)
            self.dtypes.append(dtype)
        self.codes.append(code)
        self.dims.extend(shape)
        self.dim_end.append(len(self.dims))
        self.begin.append(begin)
        self.end.append(end)
        self.numel.append(numel)
        return len(self.codes) - 1

    def table(self, names: list[str], order: array | None) -> TensorTable:
        """Freeze into a table; `order` picks and orders rows when it is not the identity."""
        nbytes = array("Q", (e - b for b, e in zip(self.begin, self.end, strict=True)))
        if order is None:
            return TensorTable(names, self.dtypes, self.codes, self.dim_end, self.dims, nbytes, self.numel)
        codes, dim_end, dims, nb, numel = array("I"), array("Q"), array("Q"), array("Q"), array("Q")
        for r in order:
            start = self.dim_end[r - 1] if r else 0
            dims.extend(self.dims[start : self.dim_end[r]])
            dim_end.append(len(dims))
            codes.append(self.codes[r])
            nb.append(nbytes[r])
            numel.append(self.numel[r])
        return TensorTable(names, self.dtypes, codes, dim_end, dims, nb, numel)
