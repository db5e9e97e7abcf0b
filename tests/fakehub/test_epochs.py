"""Epochs: updated, new and deleted models, deterministic, visible to an incremental crawl."""

from __future__ import annotations

import pytest
from hubcensus.fakehub.synthetic import now_ms
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError

from hubcensus import fakehub


def _walk(api: HfApi) -> dict[str, tuple[str, object, object]]:
    return {
        m.id: (m.sha, m.last_modified, m.created_at)
        for m in api.list_models(sort="last_modified", expand=["sha", "lastModified", "createdAt"])
    }


def test_epoch_one_changes(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=3000, seed=5)
    api = HfApi(endpoint=hub.url)
    e0 = _walk(api)
    truth0 = {i: hub.catalog.truth(i) for i in e0}
    max_lm0 = max(v[1] for v in e0.values())
    assert max_lm0.timestamp() * 1000 <= now_ms(0)
    hub.set_epoch(1)
    e1 = _walk(api)
    renames = {r["old_id"]: r["new_id"] for r in hub.catalog.renames(since_epoch=0)}
    gone = set(e0) - set(e1) - set(renames)
    deleted = {i for i in gone if hub.catalog.truth(i)["deleted"]}
    private = gone - deleted
    new = set(e1) - set(e0) - set(renames.values())
    changed = {i for i in set(e0) & set(e1) if e0[i][0] != e1[i][0]}
    assert deleted and new and changed and renames
    assert all(hub.catalog.truth(i)["private"] for i in private)
    assert all(e1[i][1] > max_lm0 for i in changed | new)
    assert all(e1[i][1] <= max_lm0 for i in set(e1) - changed - new)
    assert all(e1[i][2].timestamp() * 1000 > now_ms(0) for i in new)
    for i in gone:
        with pytest.raises(RepositoryNotFoundError):
            api.model_info(i)
    assert any(
        hub.catalog.truth(i)["parameters_by_dtype"] != truth0[i]["parameters_by_dtype"] for i in changed
    )
    # an incremental crawl by lastModified stops at the old high-water mark and sees exactly the changes
    seen = set()
    for m in api.list_models(sort="last_modified", expand=["lastModified"]):
        if m.last_modified <= max_lm0:
            break
        seen.add(m.id)
    assert seen == changed | new | {renames[o] for o in renames if e1[renames[o]][0] != e0[o][0]}
    assert hub.catalog.size == len(e1)


def test_epochs_are_deterministic(fakehub_server) -> None:
    a = fakehub_server(synthetic=2000, seed=9, epoch=2)
    b = fakehub_server(synthetic=2000, seed=9)
    b.set_epoch(1)
    b.set_epoch(2)
    ids = sorted(a.catalog.ids())
    assert ids == sorted(b.catalog.ids())
    assert [a.catalog.truth(i)["sha"] for i in ids[:300]] == [b.catalog.truth(i)["sha"] for i in ids[:300]]
    assert a.catalog.size > 2000 - 20


def test_epoch_moves_cursor_walk_without_repeats(fakehub_server) -> None:
    hub: fakehub.RunningHub = fakehub_server(synthetic=2500, seed=4)
    repos, cursor = hub.catalog.page("createdAt", fakehub.catalog.Query(), 1000, None)
    hub.set_epoch(1)
    seen = [r.id for r in repos]
    while cursor:
        repos, cursor = hub.catalog.page("createdAt", fakehub.catalog.Query(), 1000, cursor)
        seen += [r.id for r in repos]
    assert len(seen) == len(set(seen))
