"""`_id` on every item, the listing's expand contract, and epochs that rename, delete, hide and gate repos."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hubcensus.fakehub.render import INFO_ONLY_EXPAND_KEYS, LIST_EXPAND_KEYS
from hubcensus.fakehub.repo import parse_iso
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import BadRequestError, RepositoryNotFoundError

from hubcensus import fakehub

HEX24 = re.compile(r"[0-9a-f]{24}")


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(synthetic=3000, seed=11)) as h:
        yield h


def get(hub: fakehub.RunningHub, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(hub.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict(r.headers), body


def check_id(item: dict) -> None:
    assert HEX24.fullmatch(item["_id"]), item
    assert int(item["_id"][:8], 16) == parse_iso(item["createdAt"]) // 1000


def test_id_on_every_listing_shape_and_info(hub: fakehub.RunningHub) -> None:
    ids: dict[str, str] = {}
    for q in ("limit=1000", "limit=1000&full=true", "limit=1000&expand=createdAt", "limit=1000&config=true"):
        status, _, body = get(hub, f"/api/models?{q}")
        items = json.loads(body)
        assert status == 200 and len(items) == 1000
        for item in items:
            if "createdAt" in item:
                check_id(item)
            assert HEX24.fullmatch(item["_id"]) and ids.setdefault(item["id"], item["_id"]) == item["_id"]
    some = list(ids.items())[:50]
    for name, hid in some:
        t = hub.catalog.truth(name)
        assert t["_id"] == hid and int(hid[:8], 16) == parse_iso(t["created_at"]) // 1000
        for q in ("", "?expand=sha", "?blobs=true"):
            info = json.loads(get(hub, f"/api/models/{name}{q}")[2])
            assert info["_id"] == hid and info["id"] == name
    assert len(set(ids.values())) == len(ids)  # unique
    assert hub.catalog.truth_by_hub_id(some[0][1])["id"] == some[0][0]


def test_listing_refuses_info_only_and_unknown_expand_keys(hub: fakehub.RunningHub, hf_env) -> None:
    want = '"expand" must be one of [' + ", ".join(LIST_EXPAND_KEYS) + "]"
    assert len(LIST_EXPAND_KEYS) == 28
    for key in (*INFO_ONLY_EXPAND_KEYS, "nope"):
        for form in ("expand", "expand[]"):
            status, _, body = get(hub, f"/api/models?limit=2&{form}=sha&{form}={key}")
            assert status == 400 and json.loads(body) == {"error": want}, key
        with pytest.raises(BadRequestError):
            list(HfApi(endpoint=hub.url).list_models(expand=[key], limit=1))
    status, _, body = get(hub, "/api/models?limit=2&" + "&".join(f"expand={k}" for k in LIST_EXPAND_KEYS))
    assert status == 200 and len(json.loads(body)) == 2
    for q in ("full=true", "config=true", "cardData=true"):
        assert get(hub, f"/api/models?expand=sha&{q}")[0] == 400


def test_model_info_takes_the_info_only_keys(hub: fakehub.RunningHub, hf_env) -> None:
    t = next(hub.catalog.truth(i) for i in hub.catalog.ids() if hub.catalog.truth(i)["base_model"])
    api = HfApi(endpoint=hub.url)
    info = api.model_info(t["id"], expand=["baseModels", "usedStorage", "childrenModelCount"])
    base = hub.catalog.truth(t["base_model"])
    assert info.used_storage == sum(t["file_sizes"].values())
    raw = json.loads(get(hub, f"/api/models/{t['id']}?expand=baseModels&expand=childrenModelCount")[2])
    assert raw["baseModels"] == {"relation": "quantized", "models": [{"id": base["id"], "_id": base["_id"]}]}
    assert raw["childrenModelCount"] == 0 and set(raw) == {"_id", "id", "baseModels", "childrenModelCount"}
    status, _, body = get(hub, f"/api/models/{t['id']}?expand=nope")
    assert status == 400 and json.loads(body)["error"].startswith('"expand" must be one of [author, baseModels,')


def test_epochs_rename_delete_hide_and_gate(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=4000, seed=2)
    api = HfApi(endpoint=hub.url)
    before = {m.id: m._id for m in api.list_models(expand=["sha"])}
    gated0 = {t["id"]: t["gated"] for t in map(hub.catalog.truth, before)}
    hub.set_epoch(2)
    after = {m.id: m._id for m in api.list_models(expand=["sha"])}
    renames = hub.catalog.renames()
    assert 0.002 * 4000 < len(renames) < 0.02 * 4000
    assert {r["epoch"] for r in renames} == {1, 2}
    for r in renames:
        assert r["old_id"] not in after and after.get(r["new_id"], r["_id"]) == r["_id"]
        assert r["old_id"].split("/")[1] == r["new_id"].split("/")[1] != r["old_id"]
    live = [r for r in renames if r["new_id"] in after]
    r = live[0]
    assert before[r["old_id"]] == r["_id"] == after[r["new_id"]]
    assert api.model_info(r["old_id"]).id == r["new_id"]
    t = hub.catalog.truth(r["old_id"])
    assert t["id"] == r["new_id"] and t["_id"] == r["_id"] and r["old_id"] in t["former_ids"]
    assert hub.catalog.hub_ids()[r["_id"]] == r["new_id"]
    # the listing has only current names; _id is a key of the catalog over epochs
    assert set(after.values()) >= {before[i] for i in before} - {
        hub.catalog.truth(i)["_id"] for i in before
        if hub.catalog.truth(i)["deleted"] or hub.catalog.truth(i)["private"]}
    truths = {i: hub.catalog.truth(i) for i in before}
    deleted = [i for i, t in truths.items() if t["deleted"]]
    private = [i for i, t in truths.items() if t["private"] and not t["deleted"]]
    regated = [i for i, t in truths.items() if t["gated"] != gated0[i] and not t["deleted"] and not t["private"]]
    assert deleted and private and regated
    for i in deleted[:2] + private[:2]:
        assert truths[i]["id"] not in after
        with pytest.raises(RepositoryNotFoundError):
            api.model_info(i)
    for i in regated[:3]:
        assert api.model_info(truths[i]["id"]).gated == truths[i]["gated"]


def test_renamed_repo_redirects_raw(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=2000, seed=6, epoch=1)
    r = next(r for r in hub.catalog.renames() if hub.catalog.get(r["new_id"]) and
             not hub.catalog.get(r["new_id"]).gated)
    old, new = r["old_id"], r["new_id"]
    status, headers, body = get(hub, f"/api/models/{old}?expand=sha")
    assert status == 307 and headers["Location"] == f"/api/models/{new}?expand=sha"
    assert headers["Content-Type"].startswith("text/plain") and body.decode().endswith(f"/api/models/{new}?expand=sha")
    status, headers, _ = get(hub, f"/api/models/{old}/revision/main")
    assert status == 307 and headers["Location"] == f"/api/models/{new}/revision/main"
    for kind in ("resolve", "raw"):
        status, headers, _ = get(hub, f"/{old}/{kind}/main/config.json", "HEAD")
        assert status == 307 and headers["Location"] == f"/{new}/{kind}/main/config.json"
    path = hf_hub_download(old, "config.json", endpoint=hub.url, cache_dir=hf_env)
    assert json.loads(Path(path).read_text()) == json.loads(
        hub.catalog.get(new).files["config.json"].read(0, 10**6))
    assert old not in set(hub.catalog.ids()) and new in set(hub.catalog.ids())


def test_static_repo_rename_and_states(fakehub_server, fixtures_hub: Path, hf_env) -> None:
    hub = fakehub_server(repos=[fixtures_hub])
    api = HfApi(endpoint=hub.url)
    old = "sentence-transformers/all-MiniLM-L6-v2"
    hid = api.model_info(old)._id
    event = hub.rename(old, "st-org/all-MiniLM-L6-v2")
    assert event == {"_id": hid, "old_id": old, "new_id": "st-org/all-MiniLM-L6-v2", "epoch": 0}
    assert [m.id for m in api.list_models()] == ["st-org/all-MiniLM-L6-v2"]
    assert api.model_info(old).id == "st-org/all-MiniLM-L6-v2" and api.model_info(old)._id == hid
    assert hub.catalog.renames() == [event]
    hub.set_state("st-org/all-MiniLM-L6-v2", private=True)
    assert list(api.list_models()) == [] and hub.catalog.truth(old)["private"] is True
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("st-org/all-MiniLM-L6-v2")
    hub.set_state("st-org/all-MiniLM-L6-v2", private=False, deleted=True)
    assert list(api.list_models()) == [] and hub.catalog.truth(old)["deleted"] is True
    hub.set_state("st-org/all-MiniLM-L6-v2", deleted=False, gated="manual")
    assert api.model_info("st-org/all-MiniLM-L6-v2").gated == "manual"


def test_declared_former_ids_and_a_name_without_namespace(fakehub_server, tmp_path: Path, hf_env) -> None:
    d = tmp_path / "openai-community" / "gpt2"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (d / "hub.json").write_text(json.dumps({"_id": "621ffdc036468d709f17434d", "former_ids": ["gpt2"],
                                            "createdAt": "2022-03-02T23:29:04.000Z"}))
    hub = fakehub_server(repos=[tmp_path])
    api = HfApi(endpoint=hub.url)
    info = api.model_info("gpt2")
    assert (info.id, info._id) == ("openai-community/gpt2", "621ffdc036468d709f17434d")
    assert [m.id for m in api.list_models()] == ["openai-community/gpt2"]
    assert hub.catalog.renames() == [{"_id": "621ffdc036468d709f17434d", "old_id": "gpt2",
                                      "new_id": "openai-community/gpt2", "epoch": 0}]
    status, headers, _ = get(hub, "/api/models/gpt2")
    assert status == 307 and headers["Location"] == "/api/models/openai-community/gpt2"
    status, headers, _ = get(hub, "/gpt2/resolve/main/config.json", "HEAD")
    assert status == 307 and headers["Location"] == "/openai-community/gpt2/resolve/main/config.json"
    got = hf_hub_download("gpt2", "config.json", endpoint=hub.url, cache_dir=hf_env)
    assert json.loads(Path(got).read_text()) == {"model_type": "gpt2"}
    assert hub.catalog.truth("gpt2")["former_ids"] == ["gpt2"]
