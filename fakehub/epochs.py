"""Epochs of the synthetic catalog: what happens to each row from one day to the next.

Going from epoch K-1 to K, each live row is, independently and deterministically (a function of
(seed, row, K)): updated (new sha, later lastModified, sometimes re-uploaded in another dtype), deleted,
renamed (a user -> org transfer: same `_id`, new owner; the old name redirects), made private (answered
like a missing repo) or public again, gated or ungated, or disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hubcensus.fakehub.repo import parse_iso
from hubcensus.fakehub.rng import hash64_np, split3_np
from hubcensus.fakehub.specs import N_ORGS_HINT, ORGS_FAMOUS

DAY_MS = 86_400_000
NOW0 = parse_iso("2026-11-01T00:00:00.000Z")
P_UPDATE, P_DELETE, P_FLIP = 0.02, 0.002, 0.3
P_RENAME = 0.003  # per epoch: transferred to another (famous) org; same `_id`, the old name redirects
P_PRIVATE, P_PUBLIC = 0.001, 0.3  # per epoch: made private (= missing); a private repo made public again
P_GATE = 0.002  # per epoch: gating switched on (auto/manual) or off
P_DISABLE = 0.0003  # per epoch: disabled (listed, but info and files answer 403), for good
COUNTER_BITS = 24  # the ObjectId's 3-byte counter holds the index: rows must stay below 2**24


def now_ms(epoch: int) -> int:
    """The 'now' of an epoch: 2026-11-01 plus one day per epoch."""
    return NOW0 + epoch * DAY_MS


@dataclass
class EpochTable:
    """Per-row state of the synthetic catalog at one epoch."""

    epoch: int
    rows: int
    alive: np.ndarray  # not deleted
    modified: np.ndarray
    version: np.ndarray
    flips: np.ndarray
    org: np.ndarray  # current owner code (renames move it)
    gated: np.ndarray  # 0 no, 1 auto, 2 manual
    private: np.ndarray
    disabled: np.ndarray
    former: dict[int, list[tuple[int, int]]]  # index -> [(epoch of the rename, owner code before it)]
    listed: np.ndarray  # alive and public: what the listing shows
    private_set: frozenset[int] = frozenset()  # the same as `private` / `disabled`, for fast lookups by index
    disabled_set: frozenset[int] = frozenset()



def evolve(seed: int, rows_at: Callable[[int], int], epoch: int, modified0: np.ndarray, org0: np.ndarray,
           gated0: np.ndarray) -> EpochTable:
    """The per-row state at `epoch`, replayed from epoch 0 (arrays hold `rows_at(epoch)` rows)."""
    rows = rows_at(epoch)
    if rows >= 1 << COUNTER_BITS:
        raise ValueError("fakehub supports fewer than 2**24 synthetic rows")
    alive = np.ones(rows, bool)
    modified = modified0.copy()
    version = np.zeros(rows, np.uint8)
    flips = np.zeros(rows, np.uint8)
    org, gated = org0.copy(), gated0.copy()
    private, disabled = np.zeros(rows, bool), np.zeros(rows, bool)
    former: dict[int, list[tuple[int, int]]] = {}
    n_targets = min(len(ORGS_FAMOUS), N_ORGS_HINT)
    for e in range(1, epoch + 1):
        r = rows_at(e - 1)
        idx = np.arange(r, dtype=np.int64)
        u_upd, u_del, u_t = split3_np(hash64_np(seed, idx, 100 + e))
        u_ren, u_priv, u_gate = split3_np(hash64_np(seed, idx, 200 + e))
        u_org, u_dis, _ = split3_np(hash64_np(seed, idx, 300 + e))
        live = alive[:r].copy()
        upd = (u_upd < P_UPDATE) & live
        modified[:r] = np.where(upd, now_ms(e - 1) + 1 + (u_t * (DAY_MS - 2)).astype(np.int64), modified[:r])
        version[:r] += upd
        flips[:r] += upd & (u_upd < P_UPDATE * P_FLIP)
        for i in np.flatnonzero(live & (u_ren < P_RENAME)):  # user -> org transfers
            new = int(u_org[i] * n_targets)
            new = (new + 1) % n_targets if new == org[i] else new
            former.setdefault(int(i), []).append((e, int(org[i])))
            org[i] = new
        private[:r] = np.where(private[:r], u_priv < 1 - P_PUBLIC, live & (u_priv < P_PRIVATE))
        flip_gate = live & (u_gate < P_GATE)
        gated[:r] = np.where(flip_gate, np.where(gated[:r] > 0, 0, 1 + (u_gate < P_GATE / 2)), gated[:r])
        disabled[:r] |= live & (u_dis < P_DISABLE)
        alive[:r] &= ~((u_del < P_DELETE) & ~upd)
    return EpochTable(epoch, rows, alive, modified, version, flips, org, gated.astype(np.int8), private, disabled,
                      former, alive & ~private, frozenset(np.flatnonzero(private).tolist()),
                      frozenset(np.flatnonzero(disabled).tolist()))
