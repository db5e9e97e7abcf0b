"""Seeded fault injection (5xx, drops, truncation) and hostile safetensors headers."""

from __future__ import annotations

import http.client
import json
import struct
from urllib.parse import urlsplit

import httpx2
import pytest
from hubcensus.fakehub import FaultConfig
from huggingface_hub import HfApi, get_session
from huggingface_hub.errors import SafetensorsParsingError


def _conn(url: str) -> http.client.HTTPConnection:
    u = urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def _status(url: str, path: str) -> int:
    c = _conn(url)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_fail_rate_one_gives_5xx_with_headers(fakehub_server) -> None:
    hub = fakehub_server(synthetic=20, seed=1, faults=FaultConfig(fail_rate=1.0))
    c = _conn(hub.url)
    c.request("GET", "/api/models")
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status in (500, 502, 503, 504) and r.headers["X-Error-Code"] and body["error"]
    assert r.headers["RateLimit"].startswith('"api"')
    assert hub.stats.snapshot()["faults"]["fail"] == 1


def test_faults_are_seeded_per_url_and_attempt(fakehub_server) -> None:
    hub = fakehub_server(synthetic=200, seed=1, faults=FaultConfig(fail_rate=0.5, seed=11))
    paths = [f"/api/models?limit={n}" for n in range(1, 41)]
    first = [_status(hub.url, p) for p in paths]
    assert 10 < sum(s >= 500 for s in first) < 30 and set(first) - {200} <= {500, 502, 503, 504}
    hub.set_faults(FaultConfig(fail_rate=0.5, seed=11))
    assert [_status(hub.url, p) for p in paths] == first
    second_attempts = [_status(hub.url, p) for p in paths]
    assert second_attempts != first
    hub.set_faults(FaultConfig(fail_rate=0.5, seed=12))
    assert [_status(hub.url, p) for p in paths] != first


def test_client_retries_listing_through_5xx(fakehub_server, hf_env) -> None:
    hub = fakehub_server(
        synthetic=30, seed=1, faults=FaultConfig(fail_rate=0.5, seed=2, routes=frozenset({"list"}))
    )
    models = list(HfApi(endpoint=hub.url).list_models(expand=["sha"]))
    assert len(models) == 30
    snap = hub.stats.snapshot()
    assert snap["by_route"]["list"] == 1 + snap["faults"]["fail"]


def test_dropped_connection(fakehub_server, hf_env) -> None:
    hub = fakehub_server(synthetic=20, seed=1, faults=FaultConfig(drop_rate=1.0))
    c = _conn(hub.url)
    c.request("GET", "/api/models")
    with pytest.raises(http.client.RemoteDisconnected):
        c.getresponse()
    mid = next(hub.catalog.ids())
    with pytest.raises(httpx2.RemoteProtocolError):
        HfApi(endpoint=hub.url).model_info(mid)
    assert hub.stats.snapshot()["faults"]["drop"] == 2


def test_truncated_body(fakehub_server) -> None:
    hub = fakehub_server(synthetic=20, seed=1, faults=FaultConfig(truncate_rate=1.0))
    c = _conn(hub.url)
    c.request("GET", "/api/models")
    r = c.getresponse()
    assert r.status == 200 and int(r.headers["Content-Length"]) > 0
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    assert len(e.value.partial) == int(r.headers["Content-Length"]) // 2


def test_hostile_headers(fakehub_server, hf_env) -> None:
    hub = fakehub_server(hostile=True)
    api = HfApi(endpoint=hub.url)
    ids = hub.catalog.hostile_ids
    assert len(ids) == 6 and all(hub.catalog.truth(i)["hostile"] for i in ids)
    assert {m.id for m in api.list_models()} == set(ids)
    for name in ("len-10gb", "len-2pow63", "len-30mb", "not-json", "cut-short"):
        with pytest.raises(SafetensorsParsingError):
            api.parse_safetensors_file_metadata(f"fakehub-hostile/{name}", "model.safetensors")
    r = get_session().get(
        f"{hub.url}/fakehub-hostile/len-2pow63/resolve/main/model.safetensors",
        headers={"Range": "bytes=0-7"},
        follow_redirects=True,
    )
    assert r.status_code == 206 and struct.unpack("<Q", r.content) == (2**63,)
    fm = api.parse_safetensors_file_metadata("fakehub-hostile/overlapping", "model.safetensors")
    assert {n: t.data_offsets for n, t in fm.tensors.items()} == {"a": (0, 100), "b": (50, 150)}
    assert api.model_info("fakehub-hostile/len-10gb").safetensors is None
