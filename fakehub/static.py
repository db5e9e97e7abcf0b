"""Static repos (on-disk and hostile) and the changes tests make to them: renames, deletion, private, gating.

Synthetic repos change by epoch (`synthetic.py`); static repos change only when a test says so, through
`Catalog.rename` / `Catalog.set_state`, which land here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from hubcensus.fakehub.repo import Repo

TruthFn = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class RenameEvent:
    """One rename (user -> org transfer): same `_id`, a new name; the old one answers 307."""

    hub_id: str
    old_id: str
    new_id: str
    epoch: int

    def as_dict(self) -> dict[str, Any]:
        return {"_id": self.hub_id, "old_id": self.old_id, "new_id": self.new_id, "epoch": self.epoch}


class StaticRepos:
    """The static repos by position, their current and former names, and which are deleted."""

    def __init__(self, pairs: list[tuple[Repo, TruthFn]]) -> None:
        self.pairs = list(pairs)
        self.by_id = {r.id: j for j, (r, _) in enumerate(self.pairs)}
        if len(self.by_id) != len(self.pairs):
            raise ValueError("duplicate repo ids among static repos")
        for r, _ in self.pairs:
            r.object_id  # noqa: B018 - fix the `_id` now, from the first name
        self.former: dict[str, int] = {}
        self.deleted: set[int] = set()
        self.events: list[RenameEvent] = []
        for j, (r, _) in enumerate(self.pairs):  # declared history (hub.json `former_ids`), epoch 0
            names = [*r.former_ids, r.id]
            for old, new in pairwise(names):
                if old in self.by_id:
                    raise ValueError(f"{old!r} is both a repo and a former name")
                self.former[old] = j
                self.events.append(RenameEvent(r.object_id, old, new, 0))

    def __len__(self) -> int:
        return len(self.pairs)

    def repo(self, j: int) -> Repo:
        return self.pairs[j][0]

    def locate(self, model_id: str) -> tuple[int, bool] | None:
        """(position, is the current name) of a current or former name, else None."""
        if model_id in self.by_id:
            return self.by_id[model_id], True
        if model_id in self.former:
            return self.former[model_id], False
        return None

    def listed(self, j: int) -> bool:
        """Shown by the listing: not deleted, not private."""
        return j not in self.deleted and not self.pairs[j][0].private

    def former_ids(self, j: int) -> list[str]:
        """Older names of repo j, oldest first."""
        hid = self.pairs[j][0].object_id
        return [e.old_id for e in self.events if e.hub_id == hid]

    def truth(self, j: int) -> dict[str, Any]:
        """The repo's truth plus its identity and visibility."""
        repo = self.pairs[j][0]
        out = dict(self.pairs[j][1]())
        out.update({"_id": repo.object_id, "id": repo.id, "deleted": j in self.deleted, "private": repo.private,
                    "disabled": repo.disabled, "gated": repo.gated, "former_ids": self.former_ids(j)})
        return out

    def rename(self, old: str, new: str, epoch: int) -> RenameEvent:
        """Move a repo to a new name (its `_id` stays); the old name becomes a redirect."""
        if old not in self.by_id:
            raise KeyError(f"no static repo {old!r}")
        if "/" not in new or new in self.by_id:
            raise ValueError(f"bad or taken new name {new!r}")
        j = self.by_id.pop(old)
        repo = self.pairs[j][0]
        repo.id = new
        self.by_id[new] = j
        self.former[old] = j
        self.former.pop(new, None)
        event = RenameEvent(repo.object_id, old, new, epoch)
        self.events.append(event)
        return event

    def set_state(self, model_id: str, *, deleted: bool | None = None, private: bool | None = None,
                  disabled: bool | None = None, gated: bool | str | None = None) -> None:
        """Change what the Hub shows of a repo (None leaves a field as it is)."""
        if model_id not in self.by_id:
            raise KeyError(f"no static repo {model_id!r}")
        j = self.by_id[model_id]
        repo = self.pairs[j][0]
        if deleted is not None:
            (self.deleted.add if deleted else self.deleted.discard)(j)
        if private is not None:
            repo.private = private
        if disabled is not None:
            repo.disabled = disabled
        if gated is not None:
            repo.gated = gated
