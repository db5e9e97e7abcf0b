"""GET /api/models through the real huggingface_hub client: pagination, sorts, filters, expand."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from hubcensus.fakehub.repo import parse_iso
from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError
from huggingface_hub.utils._pagination import paginate

from hubcensus import fakehub

EXPAND = [
    "safetensors",
    "gguf",
    "createdAt",
    "lastModified",
    "sha",
    "library_name",
    "pipeline_tag",
    "tags",
    "config",
    "downloads",
    "downloadsAllTime",
    "likes",
    "gated",
    "siblings",
    "author",
    "private",
    "trendingScore",
]


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(synthetic=5000, seed=7)) as h:
        yield h


def _get(url: str) -> tuple[list[dict], dict[str, str]]:
    with urllib.request.urlopen(url) as r:
        return json.loads(r.read()), dict(r.headers)


def test_raw_link_walk_is_absolute_complete_and_ordered(hub: fakehub.RunningHub) -> None:
    url = f"{hub.url}/api/models?sort=createdAt&limit=1000&expand=createdAt&expand=sha"
    seen: list[dict] = []
    pages = 0
    while url:
        items, headers = _get(url)
        pages += 1
        seen += items
        link = headers.get("Link")
        if link is None:
            break
        m = re.fullmatch(r'<(http://127\.0\.0\.1:\d+/api/models\?[^>]+)>; rel="next"', link)
        assert m, link
        url = m.group(1)
        assert (
            "sort=createdAt" in url and "limit=1000" in url and "expand=createdAt" in url and "cursor=" in url
        )
    assert pages == 5
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids)) == hub.catalog.size == 5000
    assert set(ids) == set(hub.catalog.ids())
    created = [parse_iso(i["createdAt"]) for i in seen]
    assert created == sorted(created, reverse=True)
    assert all(set(i) == {"_id", "id", "createdAt", "sha"} for i in seen)


@pytest.mark.parametrize(
    "sort,attr",
    [
        ("created_at", "created_at"),
        ("last_modified", "last_modified"),
        ("downloads", "downloads"),
        ("likes", "likes"),
        ("trending_score", "trending_score"),
    ],
)
def test_client_list_models_all_pages_sorted(hub: fakehub.RunningHub, hf_env, sort: str, attr: str) -> None:
    api = HfApi(endpoint=hub.url)
    models = list(api.list_models(sort=sort, expand=EXPAND))
    assert len(models) == len({m.id for m in models}) == 5000
    values = [getattr(m, attr) for m in models]
    assert values == sorted(values, reverse=True)
    assert hub.stats.snapshot()["by_route"]["list"] >= 5


def test_expanded_items_match_truth(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    models = list(api.list_models(sort="last_modified", expand=EXPAND, limit=300))
    assert len(models) == 300
    for m in models:
        t = hub.catalog.truth(m.id)
        assert m.sha == t["sha"] and len(m.sha) == 40
        assert m.created_at == _dt(t["created_at"])
        assert m.last_modified == _dt(t["last_modified"])
        assert (
            m.library_name == t["library_name"]
            and m.pipeline_tag == t["pipeline_tag"]
            and m.tags == t["tags"]
        )
        assert (m.safetensors and dict(m.safetensors)) == (
            t["hub_safetensors"] and dict(t["hub_safetensors"])
        )
        assert [s.rfilename for s in m.siblings] == list(t["file_sizes"])
        assert m.gated == t["gated"]
        assert m.config == t["config"]
        assert m._id == t["_id"]
        if t["base_model"]:
            assert f"base_model:quantized:{t['base_model']}" in m.tags
        if t["quant_method"] == "gguf":
            assert m.gguf["total"] == t["effective_parameters"]


def _dt(s: str):
    from huggingface_hub.utils import parse_datetime

    return parse_datetime(s)


def test_client_paginate_helper_with_page_size(hub: fakehub.RunningHub, hf_env) -> None:
    items = list(
        paginate(
            f"{hub.url}/api/models",
            params={"limit": 700, "sort": "lastModified", "expand": ["lastModified"]},
            headers={},
        )
    )
    assert len(items) == 5000 and len({i["id"] for i in items}) == 5000


def test_default_compact_item_and_full(hub: fakehub.RunningHub) -> None:
    items, _ = _get(f"{hub.url}/api/models?limit=3")
    assert set(items[0]) == {
        "_id",
        "id",
        "modelId",
        "likes",
        "trendingScore",
        "private",
        "downloads",
        "tags",
        "pipeline_tag",
        "library_name",
        "createdAt",
    } - ({"library_name"} if "library_name" not in items[0] else set())
    assert re.fullmatch(r"[0-9a-f]{24}", items[0]["_id"])
    full, _ = _get(f"{hub.url}/api/models?limit=3&full=true")
    assert {"sha", "lastModified", "siblings", "author", "gated"} <= set(full[0])


def test_expand_bracket_form_and_unknown_key(hub: fakehub.RunningHub, hf_env) -> None:
    items, _ = _get(f"{hub.url}/api/models?limit=2&expand[]=likes&expand[]=sha")
    assert set(items[0]) == {"_id", "id", "likes", "sha"}
    with pytest.raises(BadRequestError):
        list(HfApi(endpoint=hub.url).list_models(expand=["nope"], limit=1))
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(f"{hub.url}/api/models?expand=sha&full=true")
    assert e.value.code == 400 and e.value.headers["X-Error-Code"] == "BadRequest"


def test_filters_author_search_pipeline(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    truths = [hub.catalog.truth(i) for i in hub.catalog.ids()]
    gguf = {m.id for m in api.list_models(filter="gguf")}
    assert gguf == {t["id"] for t in truths if "gguf" in t["tags"]} and gguf
    both = {m.id for m in api.list_models(filter=["transformers", "fp8"])}
    assert both == {t["id"] for t in truths if t["quant_method"] == "fp8"} and both
    author = {m.id for m in api.list_models(author="TheBloke")}
    assert author == {t["id"] for t in truths if t["id"].startswith("TheBloke/")} and author
    found = {m.id for m in api.list_models(search="GPTQ")}
    assert found == {t["id"] for t in truths if "gptq" in t["id"].lower()} and found
    pipe = {m.id for m in api.list_models(pipeline_tag="text-to-image")}
    assert pipe == {t["id"] for t in truths if t["pipeline_tag"] == "text-to-image"} and pipe
    gated = {m.id for m in api.list_models(gated=True)}
    assert gated == {t["id"] for t in truths if t["gated"]} and gated
    base = next(t["base_model"] for t in truths if t["base_model"])
    tagged = {m.id for m in api.list_models(filter=f"base_model:quantized:{base}")}
    assert tagged == {t["id"] for t in truths if t["base_model"] == base}


def test_search_pages_are_complete(hub: fakehub.RunningHub) -> None:
    want = sorted(i for i in hub.catalog.ids() if "llama" in i.lower())
    url = f"{hub.url}/api/models?search=llama&limit=50"
    got: list[str] = []
    while url:
        items, headers = _get(url)
        got += [i["id"] for i in items]
        link = headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
    assert sorted(got) == want and len(got) > 50


def test_page_size_is_capped_at_1000(hub: fakehub.RunningHub) -> None:
    items, headers = _get(f"{hub.url}/api/models?limit=5000")
    assert len(items) == 1000 and "Link" in headers


def test_gguf_only_repos_config_empty_and_gguf_describes_one_file(hub: fakehub.RunningHub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    items = [m for m in api.list_models(filter="gguf", expand=["gguf", "config", "siblings"], limit=50)]
    assert items
    for m in items[:5]:
        assert m.config == {} and "config.json" not in [s.rfilename for s in m.siblings]
        sizes = {f.path: f.size for f in api.list_repo_tree(m.id) if f.path.endswith(".gguf")}
        assert m.gguf["totalFileSize"] in sizes.values() and m.gguf["total"] > 0
