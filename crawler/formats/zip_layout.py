"""The few zip records a torch.save archive needs, read without inflating anything (pure).

Local file headers, the end-of-central-directory record (with its ZIP64 locator and record) and
central directory entries (with ZIP64 extra fields). torch writes every entry stored (method 0),
local headers with zero sizes and flag bit 3 (sizes in data descriptors), ZIP64 records always.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hubcensus.crawler.formats.pickle_walk import PickleError

LOCAL_SIG = b"PK\x03\x04"
_CD_SIG = b"PK\x01\x02"
_EOCD_SIG = b"PK\x05\x06"
_LOC64_SIG = b"PK\x06\x07"
_EOCD64_SIG = b"PK\x06\x06"
MAX_ENTRIES = 2_100_000
METHODS = {0: "stored", 8: "deflated", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz"}


@dataclass(frozen=True)
class Entry:
    """One zip entry: name, compression method, flags, sizes (None: not stated) and where its local header is."""

    name: str
    method: int
    flags: int
    csize: int | None
    usize: int | None
    offset: int

    @property
    def method_name(self) -> str:
        return METHODS.get(self.method, f"method {self.method}")


@dataclass(frozen=True)
class Local:
    """A local file header: the entry and where its data begins."""

    entry: Entry
    data_start: int


def local_header(buf: bytes | memoryview, at: int) -> Local | int:
    """The local header at file offset `at` of `buf` (which starts at file offset `at`), or the bytes it needs."""
    if len(buf) < 30:
        return 30
    if bytes(buf[:4]) != LOCAL_SIG:
        raise PickleError(f"no zip local header at byte {at:,}")
    _, _, flags, method, _, _, _, csize, usize, nlen, elen = struct.unpack_from("<4sHHHHHIIIHH", buf, 0)
    need = 30 + nlen + elen
    if len(buf) < need:
        return need
    name = bytes(buf[30 : 30 + nlen]).decode("utf-8", "replace")
    c, u = _zip64(bytes(buf[30 + nlen : need]), [usize, csize])
    sized = not flags & 8 or c
    entry = Entry(name, method, flags, c if sized else None, u if sized else None, at)
    return Local(entry, at + need)


def end_records(tail: bytes | memoryview, tail_start: int) -> tuple[int, int, int]:
    """(central directory offset, size, entries) from the last bytes of the file (`tail` starts at `tail_start`)."""
    tail = bytes(tail)
    i = tail.rfind(_EOCD_SIG)
    while i >= 0 and not (
        i + 22 <= len(tail) and i + 22 + struct.unpack_from("<H", tail, i + 20)[0] == len(tail)
    ):
        i = tail.rfind(_EOCD_SIG, 0, i)
    if i < 0:
        raise PickleError("zip has no end-of-central-directory record")
    _, _, _, _, count, size, offset, _ = struct.unpack_from("<4sHHHHIIH", tail, i)
    if i >= 20 and tail[i - 20 : i - 16] == _LOC64_SIG:
        (eocd64,) = struct.unpack_from("<Q", tail, i - 12)
        j = eocd64 - tail_start
        if not 0 <= j <= len(tail) - 56 or tail[j : j + 4] != _EOCD64_SIG:
            raise PickleError("zip64 end record is not where its locator says")
        count, size, offset = struct.unpack_from("<QQQ", tail, j + 32)
    if count > MAX_ENTRIES:
        raise PickleError(f"zip has {count:,} entries (cap {MAX_ENTRIES:,})")
    return offset, size, count


def central_directory(cd: bytes | memoryview, count: int) -> list[Entry]:
    """The entries of a central directory (`cd`: exactly its bytes)."""
    cd = bytes(cd)
    entries: list[Entry] = []
    pos = 0
    for _ in range(count):
        if cd[pos : pos + 4] != _CD_SIG or pos + 46 > len(cd):
            raise PickleError(f"zip central directory entry {len(entries)} is malformed")
        fields = struct.unpack_from("<4sHHHHHHIIIHHHHHII", cd, pos)
        flags, method, csize, usize = fields[3], fields[4], fields[8], fields[9]
        nlen, elen, clen, offset = fields[10], fields[11], fields[12], fields[16]
        name = cd[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")
        extra = cd[pos + 46 + nlen : pos + 46 + nlen + elen]
        usize, csize, offset = _zip64(extra, [usize, csize, offset])
        entries.append(Entry(name, method, flags, csize, usize, offset))
        pos += 46 + nlen + elen + clen
    return entries


def _zip64(extra: bytes, values: list[int]) -> list[int]:
    """Replace 0xFFFFFFFF fields by their ZIP64 extra values (in order: usize, csize, offset)."""
    out = list(values)
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            body, k = extra[pos + 4 : pos + 4 + size], 0
            for idx, v in enumerate(values):
                if v == 0xFFFFFFFF and k + 8 <= len(body):
                    (out[idx],) = struct.unpack_from("<Q", body, k)
                    k += 8
        pos += 4 + size
    return out
