"""Counter-based randomness: a uniform number per (seed, index, stream), identical in numpy and Python."""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
_A, _B, _C = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(x: int) -> int:
    x = ((x ^ (x >> 30)) * _B) & M64
    x = ((x ^ (x >> 27)) * _C) & M64
    return x ^ (x >> 31)


def hash64(seed: int, i: int, stream: int) -> int:
    """A 64-bit hash of (seed, index, stream)."""
    return _mix((seed * _A + _mix((i * _B + stream * _C + 1) & M64)) & M64)


def rand(seed: int, i: int, stream: int) -> float:
    """Uniform in [0, 1) for (seed, index, stream)."""
    return (hash64(seed, i, stream) >> 11) * (1.0 / (1 << 53))


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(_B)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_C)
    return x ^ (x >> np.uint64(31))


def hash64_np(seed: int, idx: np.ndarray, stream: int) -> np.ndarray:
    """Vectorised `hash64` over an index array."""
    i = idx.astype(np.uint64)
    with np.errstate(over="ignore"):
        inner = _mix_np(i * np.uint64(_B) + np.uint64((stream * _C + 1) & M64))
        return _mix_np(np.uint64((seed * _A) & M64) + inner)


def rand_np(seed: int, idx: np.ndarray, stream: int) -> np.ndarray:
    """Vectorised `rand`: float64 uniforms in [0, 1)."""
    return (hash64_np(seed, idx, stream) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def split3(h: int) -> tuple[float, float, float]:
    """Three 21-bit uniforms from one 64-bit hash."""
    m = (1 << 21) - 1
    return ((h & m) / (1 << 21), ((h >> 21) & m) / (1 << 21), ((h >> 42) & m) / (1 << 21))


def split3_np(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `split3`."""
    m = np.uint64((1 << 21) - 1)
    s = 1.0 / (1 << 21)
    return ((h & m).astype(np.float64) * s, ((h >> np.uint64(21)) & m).astype(np.float64) * s,
            ((h >> np.uint64(42)) & m).astype(np.float64) * s)
