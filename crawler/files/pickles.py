"""Reading a PyTorch pickle checkpoint's head by range reads of `/resolve/` (the twin of `read_file_header`).

One range GET of the first `FIRST_READ_BYTES` covers `data.pkl` (zip) or the legacy head in the common
case; a second read fetches the rest of a long pickle, or the end records and central directory when
`data.pkl` is not the first zip entry (a third then if `data.pkl` lies beyond the first read). The file
size is the one the Hub states with the first read. Reads past the first hold the shared `MemoryBudget`.
Nothing in the file is ever executed (`hubcensus.crawler.formats.torch_container`).
"""

from __future__ import annotations

from contextlib import nullcontext

from hubcensus.crawler.files.budget import MemoryBudget, give_back
from hubcensus.crawler.files.headers import FIRST_READ_BYTES, PARSE_COST, HeaderSource
from hubcensus.crawler.formats.torch_container import NeedRange, Pieces, parse_checkpoint
from hubcensus.crawler.formats.torch_pickle import PickleError, PickleHeader

__all__ = ["PickleHeader", "read_pickle_header"]

MAX_READS = 6
"""Reads after the first: a legacy head doubles per read, a zip needs at most the end records, the
central directory and data.pkl."""


def read_pickle_header(
    source: HeaderSource, model_id: str, path: str, revision: str, *, budget: MemoryBudget | None = None
) -> PickleHeader:
    """One checkpoint's census header: one range GET in the common case, more only when the head needs it."""
    first = source.read_range(model_id, path, 0, FIRST_READ_BYTES - 1, revision)
    size = first.total
    pieces = Pieces(first.body)
    del first
    parsed = parse_checkpoint(pieces, path=path, file_size=size)
    if not isinstance(parsed, NeedRange):
        return parsed
    try:
        for _ in range(MAX_READS):
            want = parsed.end - parsed.start
            with budget.hold(PARSE_COST * (pieces.nbytes + want)) if budget is not None else nullcontext():
                got = source.read_range(model_id, path, parsed.start, parsed.end - 1, revision)
                if not got.body:
                    raise PickleError(f"{path}: empty answer for bytes {parsed.start:,}-{parsed.end - 1:,}")
                pieces.add(parsed.start, got.body)
                del got
                parsed = parse_checkpoint(pieces, path=path, file_size=size)
            if not isinstance(parsed, NeedRange):
                return parsed
        raise PickleError(f"{path}: still needs {parsed.reason} after {MAX_READS} reads")
    finally:
        del pieces
        give_back()
