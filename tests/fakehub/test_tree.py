"""GET /api/models/{id}/tree/{rev}[/{path}] and POST /api/models/{id}/paths-info/{rev} through the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubcensus.fakehub.access import DENIED_TOKEN
from huggingface_hub import HfApi, get_session
from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

from hubcensus import fakehub


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(synthetic=3000, seed=3, epoch=1)) as h:
        yield h


def find(hub: fakehub.RunningHub, pred) -> dict:
    return next(t for t in map(hub.catalog.truth, hub.catalog.ids()) if pred(t))


def test_recursive_tree_equals_truth_and_blobs(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    g = find(hub, lambda t: t["gated"])  # gated: the tree (metadata) stays open
    assert {e.path for e in api.list_repo_tree(g["id"], recursive=True) if isinstance(e, RepoFile)} == set(
        g["file_sizes"])
    t = find(hub, lambda t: t["kind"] == "flux")
    tree = list(api.list_repo_tree(t["id"], recursive=True))
    files = {e.path: e for e in tree if isinstance(e, RepoFile)}
    dirs = {e.path for e in tree if isinstance(e, RepoFolder)}
    assert {p: f.size for p, f in files.items()} == t["file_sizes"]
    assert dirs == {p.rsplit("/", 1)[0] for p in t["file_sizes"] if "/" in p}
    info = api.model_info(t["id"], files_metadata=True)
    for s in info.siblings:
        f = files[s.rfilename]
        assert (f.size, f.blob_id) == (s.size, s.blob_id) and len(f.blob_id) == 40
        assert (f.lfs is None) == (s.lfs is None) == (f.xet_hash is None)
        if f.lfs:
            assert f.lfs.sha256 == s.lfs.sha256 and f.lfs.pointer_size == s.lfs.pointer_size
    shard = next(p for p in files if p.startswith("transformer/") and p.endswith(".safetensors"))
    head = get_session().head(f"{hub.url}/{t['id']}/resolve/main/{shard}", follow_redirects=False,
                              headers={"Authorization": "Bearer hf_test"})
    assert head.headers["X-Xet-Hash"] == files[shard].xet_hash
    assert head.headers["X-Linked-Size"] == str(files[shard].size)


def test_tree_levels_expand_and_errors(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    t = find(hub, lambda t: t["kind"] == "sd" and not t["gated"])
    root = list(api.list_repo_tree(t["id"]))
    assert {e.path for e in root} == {p.split("/")[0] for p in t["file_sizes"]}
    unet = list(api.list_repo_tree(t["id"], path_in_repo="unet"))
    assert {e.path for e in unet} == {p for p in t["file_sizes"] if p.startswith("unet/")}
    rich = list(api.list_repo_tree(t["id"], path_in_repo="unet", expand=True))
    assert all(e.last_commit.oid == t["sha"] for e in rich) and all(e.security.safe for e in rich)
    assert list(api.list_repo_tree(t["id"], revision=t["sha"], recursive=True))
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(t["id"], path_in_repo="nope"))
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree(t["id"], revision="v9"))


def test_paths_info(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    t = find(hub, lambda t: t["kind"] == "sd" and not t["gated"])
    weights = next(p for p in t["file_sizes"] if p.startswith("unet/") and p.endswith(".safetensors"))
    got = api.get_paths_info(t["id"], ["model_index.json", "nope.bin", "unet", weights])
    assert [type(e) for e in got] == [RepoFile, RepoFolder, RepoFile]
    assert [e.path for e in got] == ["model_index.json", "unet", weights]
    assert got[2].size == t["file_sizes"][weights] and got[2].lfs and got[2].xet_hash
    assert got[0].size == t["file_sizes"]["model_index.json"] and got[0].lfs is None
    assert api.get_paths_info(t["id"], ["nope"]) == []
    rich = api.get_paths_info(t["id"], [weights], expand=True)
    assert rich[0].last_commit.oid == t["sha"]
    r = get_session().post(f"{hub.url}/api/models/{t['id']}/paths-info/main",
                           data={"paths": [f"f{i}" for i in range(1001)]})
    assert r.status_code == 400


def test_renamed_repo_tree_follows(hub: fakehub.RunningHub, hf_env) -> None:
    r = next(r for r in hub.catalog.renames() if hub.catalog.get(r["new_id"]))
    api = HfApi(endpoint=hub.url)
    assert {e.path for e in api.list_repo_tree(r["old_id"], recursive=True)} == {
        e.path for e in api.list_repo_tree(r["new_id"], recursive=True)}
    assert [e.path for e in api.get_paths_info(r["old_id"], ["README.md"])] == ["README.md"]


def test_tree_pages_of_1000_and_50(fakehub_server, tmp_path: Path, hf_env) -> None:
    d = tmp_path / "acme" / "many"
    (d / "sub").mkdir(parents=True)
    for i in range(1040):
        (d / f"f{i:04d}.txt").write_text(str(i))
    for i in range(10):
        (d / "sub" / f"g{i}.json").write_text(json.dumps(i))
    hub = fakehub_server(repos=[tmp_path])
    api = HfApi(endpoint=hub.url)
    entries = list(api.list_repo_tree("acme/many", recursive=True))
    assert len(entries) == 1040 + 10 + 1 and len({e.path for e in entries}) == len(entries)
    assert hub.stats.snapshot()["by_route"]["tree"] == 2
    first = get_session().get(f"{hub.url}/api/models/acme/many/tree/main?recursive=true")
    assert len(first.json()) == 1000 and first.links["next"]["url"].startswith(hub.url + "/api/models/acme/many/")
    sub = list(api.list_repo_tree("acme/many", path_in_repo="sub", expand=True))
    assert [e.path for e in sub] == [f"sub/g{i}.json" for i in range(10)]
    before = hub.stats.snapshot()["by_route"]["tree"]
    assert len(list(api.list_repo_tree("acme/many", expand=True))) == 1040 + 1
    assert hub.stats.snapshot()["by_route"]["tree"] - before == 21  # ceil(1041 / 50)


def test_gated_tree_masks_xet_hash_without_access(hub: fakehub.RunningHub, hf_env) -> None:
    g = find(hub, lambda t: t["gated"] and t["files"])
    name = next(iter(g["files"]))
    anon = {e.path: e.xet_hash for e in HfApi(endpoint=hub.url, token=False).list_repo_tree(g["id"])}
    granted = HfApi(endpoint=hub.url, token="hf_granted").get_paths_info(g["id"], [name])[0]
    denied = HfApi(endpoint=hub.url, token=DENIED_TOKEN).get_paths_info(g["id"], [name])[0]
    assert anon[name] == denied.xet_hash == "*" * 64 and len(granted.xet_hash) == 64 != granted.xet_hash.count("*")
