"""model_info, resolve/raw, ranges, safetensors metadata and errors through the real client."""

from __future__ import annotations

import http.client
import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hubcensus import fakehub


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(synthetic=5000, seed=3)) as h:
        yield h


@pytest.fixture(scope="module")
def truths(hub: fakehub.RunningHub) -> list[dict]:
    return [hub.catalog.truth(i) for i in hub.catalog.ids()]


def find(truths: list[dict], pred: Callable[[dict], bool]) -> dict:
    return next(t for t in truths if pred(t))


def single(t: dict) -> bool:
    return "model.safetensors" in t["file_sizes"] and not t["gated"]


def sharded(t: dict) -> bool:
    return "model.safetensors.index.json" in t["file_sizes"] and not t["gated"]


def raw(
    hub: fakehub.RunningHub, method: str, path: str, headers: dict | None = None
) -> http.client.HTTPResponse:
    u = urlsplit(hub.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    r.body = r.read()  # type: ignore[attr-defined]
    conn.close()
    return r


def test_model_info_files_metadata(hub: fakehub.RunningHub, truths: list[dict], hf_env) -> None:
    t = find(truths, sharded)
    info = HfApi(endpoint=hub.url).model_info(t["id"], files_metadata=True)
    assert info.sha == t["sha"]
    assert {s.rfilename: s.size for s in info.siblings} == t["file_sizes"]
    lfs = [s for s in info.siblings if s.rfilename.endswith(".safetensors")]
    assert lfs and all(s.lfs and len(s.lfs.sha256) == 64 and s.lfs.size == s.size for s in lfs)
    assert all(s.lfs is None and len(s.blob_id) == 40 for s in info.siblings if s.rfilename.endswith(".json"))
    assert dict(info.safetensors) == t["hub_safetensors"]
    by_sha = HfApi(endpoint=hub.url).model_info(t["id"], revision=t["sha"], expand=["sha", "safetensors"])
    assert by_sha.sha == t["sha"] and by_sha.siblings is None


def test_safetensors_metadata_single_and_sharded_equal_truth(
    hub: fakehub.RunningHub, truths: list[dict], hf_env
) -> None:
    api = HfApi(endpoint=hub.url)
    for pred in (single, sharded):
        t = find(truths, pred)
        md = api.get_safetensors_metadata(t["id"])
        assert md.sharded == (pred is sharded)
        assert md.parameter_count == t["parameters_by_dtype"] == t["hub_safetensors"]["parameters"]
        for name, fm in md.files_metadata.items():
            ft = t["files"][name]
            assert len(fm.tensors) == ft["tensors"] and fm.parameter_count == ft["parameters_by_dtype"]
            last = max(ti.data_offsets[1] for ti in fm.tensors.values())
            assert 8 + ft["header_len"] + last == ft["size"]
    t = find(truths, sharded)
    sharded_md = api.get_safetensors_metadata(t["id"])
    assert sharded_md.metadata["total_size"] == sum(
        sum(ti.data_offsets[1] - ti.data_offsets[0] for ti in f.tensors.values())
        for f in sharded_md.files_metadata.values()
    )


def test_no_safetensors_metadata_route(hub: fakehub.RunningHub, truths: list[dict], hf_env) -> None:
    """The Hub has no route returning every shard header: fakehub answers 404 like any unknown path."""
    t = find(truths, sharded)
    r = raw(hub, "GET", f"/api/models/{t['id']}/safetensors-metadata/model.safetensors.index.json")
    assert r.status == 404 and "X-Error-Code" not in r.headers
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url).get_sharded_safetensors_metadata(t["id"])
    assert e.value.response.status_code == 404


def test_quantized_repos_per_dtype_counts(hub: fakehub.RunningHub, truths: list[dict], hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    seen = set()
    for t in truths:
        if t["quant_method"] in seen or t["quant_method"] in ("gguf", "none") or t["gated"]:
            continue
        seen.add(t["quant_method"])
        md = api.get_safetensors_metadata(t["id"])
        assert md.parameter_count == t["parameters_by_dtype"], t["id"]
    assert seen >= {"gptq", "awq", "bnb-4bit", "fp8", "mlx", "compressed-tensors", "nvfp4", "mxfp4"}


def test_header_larger_than_100kb_needs_second_range(
    hub: fakehub.RunningHub, truths: list[dict], hf_env
) -> None:
    t = find(
        truths,
        lambda t: not t["gated"] and any((f["header_len"] or 0) > 100_000 for f in t["files"].values()),
    )
    name, ft = next((n, f) for n, f in t["files"].items() if f["header_len"] > 100_000)
    before = hub.stats.snapshot()["by_route"]["resolve_get"]
    fm = HfApi(endpoint=hub.url).parse_safetensors_file_metadata(t["id"], name)
    assert hub.stats.snapshot()["by_route"]["resolve_get"] - before == 2
    assert fm.parameter_count == ft["parameters_by_dtype"] and len(fm.tensors) == ft["tensors"]


def test_hf_hub_download_index_and_file_exists(
    hub: fakehub.RunningHub, truths: list[dict], hf_env: Path
) -> None:
    t = find(truths, sharded)
    path = hf_hub_download(t["id"], "model.safetensors.index.json", endpoint=hub.url, cache_dir=hf_env)
    index = json.loads(Path(path).read_text())
    assert len(set(index["weight_map"].values())) == sum(1 for f in t["files"] if f.startswith("model-"))
    api = HfApi(endpoint=hub.url)
    assert api.file_exists(t["id"], "config.json")
    assert not api.file_exists(t["id"], "nope.bin")
    assert not api.file_exists("nobody/nothing", "config.json")


def cdn(hub: fakehub.RunningHub, method: str, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    """resolve (must answer 302 to the CDN), then the same request at the Location."""
    r = raw(hub, "HEAD", path)
    assert r.status == 302, r.status
    loc = r.headers["Location"]
    assert loc.startswith(hub.cdn_url + "/")
    u = urlsplit(loc)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, f"{u.path}?{u.query}", headers=headers or {})
    out = conn.getresponse()
    out.body = out.read()  # type: ignore[attr-defined]
    conn.close()
    return out


def test_resolve_head_headers(hub: fakehub.RunningHub, truths: list[dict]) -> None:
    t = find(truths, single)
    r = raw(hub, "HEAD", f"/{t['id']}/resolve/main/model.safetensors")
    assert r.status == 302 and r.headers["Location"].startswith(hub.cdn_url + "/xet-bridge-us/")
    assert r.headers["X-Repo-Commit"] == t["sha"]
    assert int(r.headers["X-Linked-Size"]) == t["file_sizes"]["model.safetensors"]
    assert r.headers["ETag"] == r.headers["X-Linked-Etag"] and len(r.headers["ETag"].strip('"')) == 64
    assert len(r.headers["X-Xet-Hash"]) == 64
    assert r.headers["RateLimit"].startswith('"resolvers";r=') and "RateLimit-Policy" in r.headers
    c = cdn(hub, "HEAD", f"/{t['id']}/resolve/main/model.safetensors")
    assert c.status == 200 and int(c.headers["Content-Length"]) == t["file_sizes"]["model.safetensors"]
    assert not any(k.lower().startswith("x-") for k in c.headers) and "RateLimit" not in c.headers
    cfg = raw(hub, "HEAD", f"/{t['id']}/raw/main/config.json")
    assert (
        cfg.status == 200 and "X-Linked-Etag" not in cfg.headers and len(cfg.headers["ETag"].strip('"')) == 40
    )


def test_ranges_exact(hub: fakehub.RunningHub, truths: list[dict]) -> None:
    t = find(truths, single)
    size = t["file_sizes"]["model.safetensors"]
    n = t["files"]["model.safetensors"]["header_len"]
    p = f"/{t['id']}/resolve/main/model.safetensors"
    r = cdn(hub, "GET", p, {"Range": "bytes=0-7"})
    assert (
        r.status == 206
        and r.body == struct.pack("<Q", n)
        and r.headers["Content-Range"] == f"bytes 0-7/{size}"
    )
    r = cdn(hub, "GET", p, {"Range": f"bytes=8-{n + 7}"})
    assert r.status == 206 and len(r.body) == n and json.loads(r.body)["__metadata__"] == {"format": "pt"}
    r = cdn(hub, "GET", p, {"Range": f"bytes={size - 10}-"})
    assert (
        r.status == 206
        and r.body == bytes(10)
        and r.headers["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    )
    r = cdn(hub, "GET", p, {"Range": "bytes=-4"})
    assert r.status == 206 and len(r.body) == 4
    r = cdn(hub, "GET", p, {"Range": f"bytes={size - 2}-{size + 100}"})
    assert r.status == 206 and len(r.body) == 2
    r = cdn(hub, "GET", p, {"Range": f"bytes={size}-"})
    assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{size}" and "X-Error-Code" not in r.headers
    r = raw(hub, "GET", f"/{t['id']}/resolve/main/config.json", {"Range": "bytes=2-5"})
    cfg = hub.catalog.get(t["id"]).files["config.json"]
    assert r.status == 206 and r.body == cfg.read(2, 6) and r.headers["Content-Range"] == f"bytes 2-5/{cfg.size}"
    r = raw(hub, "GET", f"/{t['id']}/raw/main/config.json")
    assert r.status == 200 and json.loads(r.body)["model_type"] == t["config"]["model_type"]


def test_errors_raise_client_classes(hub: fakehub.RunningHub, truths: list[dict], hf_env: Path) -> None:
    api = HfApi(endpoint=hub.url)
    t = find(truths, single)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(t["id"], revision="v9")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(t["id"], "missing.txt", endpoint=hub.url, cache_dir=hf_env)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", endpoint=hub.url, cache_dir=hf_env)
    r = raw(hub, "GET", "/api/models/nobody/nothing")
    assert r.status == 401 and r.headers["X-Error-Code"] == "RepoNotFound" and json.loads(r.body)["error"]


def test_gated_repo(hub: fakehub.RunningHub, truths: list[dict], hf_env: Path) -> None:
    t = find(truths, lambda t: t["gated"] and "model.safetensors" in t["file_sizes"])
    api = HfApi(endpoint=hub.url)
    assert api.model_info(t["id"]).gated == t["gated"]
    with pytest.raises(GatedRepoError):
        api.file_exists(t["id"], "model.safetensors")
    with pytest.raises(GatedRepoError):
        api.parse_safetensors_file_metadata(t["id"], "model.safetensors")
    authed = HfApi(endpoint=hub.url, token="hf_anything")
    assert authed.get_safetensors_metadata(t["id"]).parameter_count == t["parameters_by_dtype"]


def test_diffusers_subfolder_shards(hub: fakehub.RunningHub, truths: list[dict], hf_env) -> None:
    t = find(truths, lambda t: t["kind"] == "flux" and not t["gated"])
    index = "transformer/diffusion_pytorch_model.safetensors.index.json"
    assert t["hub_safetensors"] is None and index in t["file_sizes"]
    api = HfApi(endpoint=hub.url)
    shards = sorted(set(json.loads(Path(hf_hub_download(t["id"], index, endpoint=hub.url)).read_text())
                        ["weight_map"].values()))
    assert shards == sorted(f.split("/", 1)[1] for f in t["files"] if f.startswith("transformer/"))
    bf16 = sum(api.parse_safetensors_file_metadata(t["id"], f"transformer/{s}").parameter_count["BF16"]
               for s in shards)
    assert bf16 == sum(
        f["parameters_by_dtype"]["BF16"] for n, f in t["files"].items() if n.startswith("transformer/")
    )
    assert 11.85e9 < bf16 < 11.95e9
    assert (
        23.7e9
        < sum(
            s
            for n, s in t["file_sizes"].items()
            if n.startswith("transformer/") and n.endswith(".safetensors")
        )
        < 23.9e9
    )


def test_stats_count_routes_exactly(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=400, seed=3)
    truths = [hub.catalog.truth(i) for i in hub.catalog.ids()]
    api = HfApi(endpoint=hub.url)
    one = find(truths, lambda t: single(t) and all(f["header_len"] < 100_000 for f in t["files"].values()))
    api.get_safetensors_metadata(one["id"])  # HEAD model.safetensors + one range GET
    api.model_info(one["id"])
    list(api.list_models(limit=5))
    snap = hub.stats.snapshot()
    assert snap["by_route"] == {
        "list": 1,
        "model_info": 1,
        "resolve_head": 1,
        "resolve_get": 1,
        "tree": 0,
        "paths_info": 0,
        "cdn_head": 0,
        "cdn_get": 1,  # the range read, redirected (302) by resolve_get
        "other": 0,
    }
    assert snap["by_bucket"] == {"api": 2, "resolvers": 2, "cdn": 1} and snap["requests"] == 5
    assert snap["by_status"] == {200: 2, 302: 2, 206: 1} and snap["429s"] == 0
    assert snap["cdn"] == {"requests": 1, "with_authorization": 0}


def test_old_writers_did_not_pad_headers(hub: fakehub.RunningHub, truths: list[dict]) -> None:
    """Repos written before safetensors 0.3 (born < 2023-03) have unpadded headers: a size rebuilt as
    8 + padded header + data is wrong; Content-Range and the tree state the real one."""
    old = [t for t in truths if t["created_at"] < "2023-03" and t["version"] == 0 and not t["gated"]
           and any(f["header_len"] % 8 for f in t["files"].values())]
    new = [t for t in truths if t["created_at"] >= "2023-03" and t["files"] and not t["gated"]]
    assert old and new and all(f["header_len"] % 8 == 0 for t in new for f in t["files"].values())
    t = old[0]
    name, f = next((n, f) for n, f in t["files"].items() if f["header_len"] % 8)
    r = cdn(hub, "GET", f"/{t['id']}/resolve/main/{name}", {"Range": "bytes=0-7"})
    (n,) = struct.unpack("<Q", r.body)
    assert n == f["header_len"] and r.headers["Content-Range"] == f"bytes 0-7/{f['size']}"
    data = f["size"] - 8 - n
    assert 8 + n + (-n % 8) + data != f["size"]  # the padded rebuild is off
    tree = {e.path: e.size for e in HfApi(endpoint=hub.url).list_repo_tree(t["id"], recursive=True)}
    assert tree[name] == f["size"]
