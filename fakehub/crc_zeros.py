"""CRC-32 over long runs of zero bytes in O(log n) (zip data descriptors of virtual zero storages)."""

from __future__ import annotations

import zlib
from functools import lru_cache

_POLY = 0xEDB88320


def _apply(mat: tuple[int, ...], vec: int) -> int:
    out, k = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[k]
        vec >>= 1
        k += 1
    return out


def _square(mat: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_apply(mat, mat[k]) for k in range(32))


@lru_cache(maxsize=1)
def _powers() -> tuple[tuple[int, ...], ...]:
    """Operators advancing the raw CRC register by 2^k zero bytes, k = 0..63."""
    one_bit = [_POLY] + [1 << (k - 1) for k in range(1, 32)]  # one zero bit
    mat = tuple(one_bit)
    for _ in range(3):  # 8 bits = one byte
        mat = _square(mat)
    out = [mat]
    for _ in range(63):
        out.append(_square(out[-1]))
    return tuple(out)


def crc32_zeros(n: int, crc: int = 0) -> int:
    """`zlib.crc32(bytes(n), crc)` without materialising the zeros."""
    if n < 1 << 16:
        return zlib.crc32(bytes(n), crc)
    reg = crc ^ 0xFFFFFFFF
    k = 0
    while n:
        if n & 1:
            reg = _apply(_powers()[k], reg)
        n >>= 1
        k += 1
    return reg ^ 0xFFFFFFFF
