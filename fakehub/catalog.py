"""The catalog: synthetic + static (on-disk, hostile) repos, epochs, truth, and keyset-paginated listing.

Listing order is a sorted int64 key per repo: (sort value << 24) | global index, so a cursor is
one key and every page is a binary search: stable across pages, ties and epoch switches.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from hubcensus.fakehub.repo import Repo, parse_iso
from hubcensus.fakehub.specs import KINDS, N_ORGS_HINT, kind_tags, org_name
from hubcensus.fakehub.static import RenameEvent, StaticRepos
from hubcensus.fakehub.synthetic import SyntheticSource, now_ms

SHIFT = 24
MASK = (1 << SHIFT) - 1
STATIC_BASE = 1 << 23
KEY_EPOCH = parse_iso("2015-01-01T00:00:00.000Z")
SORTS = ("createdAt", "lastModified", "downloads", "likes", "trendingScore")
TruthFn = Callable[[], dict[str, Any]]


class QueryError(ValueError):
    """A listing query the Hub would answer with 400."""


@dataclass(frozen=True)
class Lookup:
    """What a repo name leads to: `status` is one of STATUSES; `repo` is set unless missing."""

    status: str
    repo: Repo | None = None

    STATUSES = ("live", "renamed", "missing", "private", "disabled")


@dataclass(frozen=True)
class Query:
    """The filtering part of a listing request."""

    search: str | None = None
    author: str | None = None
    filters: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    gated: bool | None = None
    num_parameters: tuple[int | None, int | None] = (None, None)

    def matches(self, repo: Repo) -> bool:
        """The slow, exact predicate on a built repo."""
        if self.search and self.search.lower() not in repo.id.lower():
            return False
        if self.author and repo.author != self.author:
            return False
        if self.pipeline_tag and repo.pipeline_tag != self.pipeline_tag:
            return False
        if any(f not in repo.tags and f != repo.library_name for f in self.filters):
            return False
        if self.gated is not None and bool(repo.gated) != self.gated:
            return False
        lo, hi = self.num_parameters
        if lo is not None or hi is not None:
            total = (repo.safetensors or {}).get("total")
            if total is None or (lo is not None and total < lo) or (hi is not None and total > hi):
                return False
        return True


def parse_num_parameters(text: str) -> tuple[int | None, int | None]:
    """'min:6B,max:128B' -> (6e9, 128e9)."""
    units = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
    lo = hi = None
    for part in filter(None, text.split(",")):
        key, _, val = part.partition(":")
        val = val.strip().upper()
        try:
            n = int(float(val[:-1]) * units[val[-1]]) if val and val[-1] in units else int(val)
        except (ValueError, IndexError) as e:
            raise QueryError(f"Invalid num_parameters: {text}") from e
        if key == "min":
            lo = n
        elif key == "max":
            hi = n
        else:
            raise QueryError(f"Invalid num_parameters: {text}")
    return lo, hi


def encode_cursor(sort: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{sort}|{key}".encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> int:
    try:
        s, _, k = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        key = int(k)
    except (ValueError, UnicodeDecodeError) as e:
        raise QueryError("Invalid cursor") from e
    if s != sort:
        raise QueryError("Cursor does not match the sort")
    return key


class Catalog:
    """All repos the server knows, at the current epoch."""

    def __init__(self, synthetic: SyntheticSource | None = None,
                 static: list[tuple[Repo, TruthFn]] | None = None, epoch: int = 0) -> None:
        self.synthetic = synthetic
        self.statics = StaticRepos(list(static or []))
        self.static = self.statics.pairs
        self._version = 0  # bumped by every change to static repos (listing cache key)
        self.gate_denied: frozenset[str] = frozenset({"hf_fakehub_not_on_the_gate_list"})  # see access.py
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, tuple[np.ndarray, Query]] = OrderedDict()
        self._pipes: dict[str | None, int] = {}
        for k in KINDS:
            self._pipes.setdefault(k.pipeline, len(self._pipes))
        self._orgs = {org_name(c): c for c in range(N_ORGS_HINT)}
        self._kind_pipe = np.array([self._pipes[k.pipeline] for k in KINDS], np.int16)
        self._kind_tags = [set(kind_tags(k)) for k in KINDS]
        self._kind_tags_all = set().union(*self._kind_tags)
        self.epoch = -1
        self.set_epoch(epoch)

    # ---- epochs ----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Move the catalog to an epoch (0 = base; each epoch is one day later)."""
        if epoch < 0:
            raise ValueError("epoch must be >= 0")
        table = self.synthetic.table(epoch) if self.synthetic else None
        with self._lock:
            self.epoch = epoch
            self._table = table

    @property
    def now_ms(self) -> int:
        return now_ms(self.epoch)

    # ---- lookups ---------------------------------------------------------------------
    def _locate(self, model_id: str) -> tuple[str, int, bool] | None:
        """(source, position, is the current name) of a current or former name."""
        got = self.statics.locate(model_id)
        if got is not None:
            return "static", got[0], got[1]
        if self.synthetic:
            found = self.synthetic.index_of(model_id, self.epoch)
            if found is not None:
                return "synthetic", found[0], found[1]
        return None

    def lookup(self, model_id: str) -> Lookup:
        """What the Hub answers for a name: live, renamed (repo = the current one), missing (never existed or
        deleted), private (answered like missing), or disabled."""
        loc = self._locate(model_id)
        if loc is None:
            return Lookup("missing")
        src, pos, current = loc
        if src == "static":
            if pos in self.statics.deleted:
                return Lookup("missing")
            repo = self.statics.repo(pos)
        else:
            assert self.synthetic is not None and self._table is not None
            if not self._table.alive[pos]:
                return Lookup("missing")
            repo = self.synthetic.repo(pos, self.epoch)
        if repo.private:
            return Lookup("private", repo)
        if not current:
            return Lookup("renamed", repo)
        return Lookup("disabled" if repo.disabled else "live", repo)

    def get(self, model_id: str) -> Repo | None:
        """The public, current-named repo with this id (disabled ones too), or None."""
        found = self.lookup(model_id)
        return found.repo if found.status in ("live", "disabled") else None

    def truth(self, model_id: str) -> dict[str, Any] | None:
        """Ground truth of a repo by current or former name (deleted and private ones too); None if it never
        existed. Keys include `_id`, `id` (the current name), `former_ids`, `deleted`, `private`, `disabled`."""
        loc = self._locate(model_id)
        if loc is None:
            return None
        if loc[0] == "static":
            return self.statics.truth(loc[1])
        assert self.synthetic is not None
        return self.synthetic.truth(loc[1], self.epoch)

    def truth_by_hub_id(self, hub_id: str) -> dict[str, Any] | None:
        """Ground truth of the repo carrying this `_id` (whatever its name now), else None."""
        if self.synthetic is not None:
            i = self.synthetic.index_of_hub_id(hub_id, self.epoch)
            if i is not None:
                return self.synthetic.truth(i, self.epoch)
        for j, (r, _) in enumerate(self.static):
            if r.object_id == hub_id:
                return self.statics.truth(j)
        return None

    def repo_by_hub_id(self, hub_id: str) -> Repo | None:
        """The existing (not deleted) repo carrying this `_id`, whatever its name, else None."""
        if self.synthetic is not None and self._table is not None:
            i = self.synthetic.index_of_hub_id(hub_id, self.epoch)
            if i is not None:
                return self.synthetic.repo(i, self.epoch) if self._table.alive[i] else None
        for j, (r, _) in enumerate(self.static):
            if r.object_id == hub_id:
                return None if j in self.statics.deleted else r
        return None

    def ids(self) -> Iterator[str]:
        """Ids of all listed (live, public) repos at this epoch (synthetic by index, then static)."""
        if self.synthetic and self._table is not None:
            t = self._table
            for i in np.flatnonzero(t.listed):
                yield self.synthetic.id_of(int(i), t)
        for j, (r, _) in enumerate(self.static):
            if self.statics.listed(j):
                yield r.id

    def hub_ids(self) -> dict[str, str]:
        """`_id` -> current name of every listed repo."""
        out = {}
        if self.synthetic and self._table is not None:
            t = self._table
            for i in np.flatnonzero(t.listed):
                out[self.synthetic.hub_id(int(i))] = self.synthetic.id_of(int(i), t)
        for j, (r, _) in enumerate(self.static):
            if self.statics.listed(j):
                out[r.object_id] = r.id
        return out

    def renames(self, since_epoch: int | None = None) -> list[dict[str, Any]]:
        """Renames up to now (only those after epoch `since_epoch` if given): [{"_id", "old_id", "new_id",
        "epoch"}], oldest first (static renames made by `rename()` carry the epoch they were made at)."""
        events: list[RenameEvent] = []
        if self.synthetic is not None:
            events += [RenameEvent(self.synthetic.hub_id(i), old, new, e)
                       for i, e, old, new in self.synthetic.renames(self.epoch)]
        events += self.statics.events
        return [ev.as_dict() for ev in sorted(events, key=lambda ev: ev.epoch)
                if since_epoch is None or ev.epoch > since_epoch]

    @property
    def size(self) -> int:
        """Number of listed (live, public) repos."""
        n = int(self._table.listed.sum()) if self._table is not None else 0
        return n + sum(self.statics.listed(j) for j in range(len(self.static)))

    # ---- changes to static repos (tests) ---------------------------------------------
    def rename(self, old: str, new: str) -> dict[str, Any]:
        """Rename a static repo now (same `_id`; the old name answers 307). Returns the rename event."""
        with self._lock:
            event = self.statics.rename(old, new, self.epoch)
            self._version += 1
            self._cache.clear()
        return event.as_dict()

    def set_state(self, model_id: str, *, deleted: bool | None = None, private: bool | None = None,
                  disabled: bool | None = None, gated: bool | str | None = None) -> None:
        """Delete / make private / disable / gate a static repo (None leaves a field unchanged)."""
        with self._lock:
            self.statics.set_state(model_id, deleted=deleted, private=private, disabled=disabled, gated=gated)
            self._version += 1
            self._cache.clear()

    @property
    def hostile_ids(self) -> list[str]:
        """Ids of the hostile repos (`--hostile`, `--hostile-pickle`)."""
        return [r.id for r, _ in self.static if r.id.startswith(("fakehub-hostile/", "fakehub-hostile-pickle/"))]

    @property
    def hostile_pickle_ids(self) -> list[str]:
        """Ids of the hostile pickle repos (`--hostile-pickle`)."""
        return [r.id for r, _ in self.static if r.id.startswith("fakehub-hostile-pickle/")]

    def _repo_at(self, gidx: int) -> Repo:
        if gidx >= STATIC_BASE:
            return self.static[gidx - STATIC_BASE][0]
        assert self.synthetic is not None
        return self.synthetic.repo(gidx, self.epoch)

    # ---- listing ---------------------------------------------------------------------
    def _values(self, sort: str) -> tuple[np.ndarray, np.ndarray]:
        """(global index, sort value) of every live repo."""
        g_parts, v_parts = [], []
        if self.synthetic and self._table is not None:
            t, s = self._table, self.synthetic
            g = np.flatnonzero(t.listed).astype(np.int64)
            v = {"createdAt": s.created, "lastModified": t.modified, "downloads": s.downloads,
                 "likes": s.likes, "trendingScore": s.trending}[sort]
            g_parts.append(g)
            v_parts.append(v[g].astype(np.int64))
        if self.static:
            attr = {"createdAt": "created_ms", "lastModified": "modified_ms", "downloads": "downloads",
                    "likes": "likes", "trendingScore": "trending_score"}[sort]
            keep = [j for j in range(len(self.static)) if self.statics.listed(j)]
            g_parts.append(np.array(keep, dtype=np.int64) + STATIC_BASE)
            v_parts.append(np.array([getattr(self.static[j][0], attr) for j in keep], np.int64))
        g = np.concatenate(g_parts) if g_parts else np.zeros(0, np.int64)
        v = np.concatenate(v_parts) if v_parts else np.zeros(0, np.int64)
        if sort in ("createdAt", "lastModified"):
            v = v - KEY_EPOCH
        return g, np.clip(v, 0, (1 << 39) - 1)

    def _keys(self, sort: str, q: Query) -> tuple[np.ndarray, Query]:
        """Sorted keys after the vectorised filters, and the rest of the query (checked per repo)."""
        ck = (self.epoch, self._version, sort, q)
        with self._lock:
            if ck in self._cache:
                self._cache.move_to_end(ck)
                return self._cache[ck]
        g, v = self._values(sort)
        rest = Query()
        if q != Query():
            g, v, rest = self._filter(g, v, q)
        out = (np.sort((v << SHIFT) | g), rest)
        with self._lock:
            self._cache[ck] = out
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return out

    def _filter(self, g: np.ndarray, v: np.ndarray, q: Query) -> tuple[np.ndarray, np.ndarray, Query]:
        syn = g < STATIC_BASE
        keep = np.ones(len(g), bool)
        rest = q
        if self.synthetic is not None and syn.any():
            kind = self.synthetic.kind[g[syn]]
            m = np.ones(int(syn.sum()), bool)
            if q.author is not None:
                code = self._orgs.get(q.author)
                m &= (self._table.org[g[syn]] == code) if code is not None else False
            if q.pipeline_tag is not None:
                m &= self._kind_pipe[kind] == self._pipes.get(q.pipeline_tag, -1)
            slow = []
            for f in q.filters:
                if f in self._kind_tags_all:
                    m &= np.isin(kind, [k for k, tags in enumerate(self._kind_tags) if f in tags])
                else:
                    slow.append(f)
            if q.gated is not None:
                m &= (self._table.gated[g[syn]] > 0) == q.gated
            rest = Query(q.search, None, tuple(slow), None, None, q.num_parameters)
            keep[syn] = m
        for k in np.flatnonzero(~syn):
            keep[k] = q.matches(self.static[int(g[k]) - STATIC_BASE][0])
        return g[keep], v[keep], rest

    def _slow_match(self, gidx: int, rest: Query) -> bool:
        if gidx >= STATIC_BASE:
            return True  # static repos were filtered exactly
        assert self.synthetic is not None
        if rest.filters or rest.gated is not None or rest.num_parameters != (None, None):
            return rest.matches(self.synthetic.repo(gidx, self.epoch))
        return (rest.search or "").lower() in self.synthetic.id_of(gidx, self._table).lower()

    def page(self, sort: str | None, q: Query, limit: int, cursor: str | None) -> tuple[list[Repo], str | None]:
        """One page of repos, descending by `sort`, after `cursor`; and the next cursor (None at the end)."""
        sort = sort or "createdAt"
        if sort not in SORTS:
            raise QueryError(f"Invalid sort: {sort}")
        keys, rest = self._keys(sort, q)
        pos = len(keys) if cursor is None else int(np.searchsorted(keys, decode_cursor(sort, cursor), "left"))
        if rest == Query():
            lo = max(0, pos - limit)
            sel = [int(k) for k in keys[lo:pos][::-1]]
            more = lo > 0
        else:  # scan lazily in order; one extra match tells whether a next page exists
            sel, more = [], False
            for k in keys[:pos][::-1]:
                if self._slow_match(int(k) & MASK, rest):
                    if len(sel) == limit:
                        more = True
                        break
                    sel.append(int(k))
        repos = [self._repo_at(k & MASK) for k in sel]
        return repos, (encode_cursor(sort, sel[-1]) if more and sel else None)
