"""LFS files served the Xet way: resolve answers 302 to the CDN listener, which honours Range."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from huggingface_hub import HfApi, get_session, hf_hub_download

from hubcensus import fakehub

TOKEN = "hf_fakehub_cdn_test"


def _safetensors(n: int) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(range(256)) * (4 * n // 256)


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    for name, gated in (("open", False), ("gated", "auto")):
        d = tmp_path / "acme" / name
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(_safetensors(1024))
        (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
        (d / "hub.json").write_text(json.dumps({"gated": gated}))
    return tmp_path


def test_hf_hub_download_goes_through_the_cdn_without_authorization(
    fakehub_server, repos: Path, hf_env: Path
) -> None:
    hub: fakehub.RunningHub = fakehub_server(repos=[repos])
    want = (repos / "acme" / "gated" / "model.safetensors").read_bytes()
    for repo, token in (("acme/open", False), ("acme/gated", TOKEN)):
        got = hf_hub_download(repo, "model.safetensors", endpoint=hub.url, cache_dir=hf_env, token=token)
        assert Path(got).read_bytes() == want
    snap = hub.stats.snapshot()
    assert snap["cdn"] == {"requests": 2, "with_authorization": 0}
    assert snap["by_route"]["cdn_get"] == 2 and snap["by_status"][302] >= 2
    assert snap["by_bucket"]["resolvers"] == 2  # one HEAD per file (its 302 gives the CDN URL); the CDN: own bucket
    got = hf_hub_download("acme/open", "config.json", endpoint=hub.url, cache_dir=hf_env)
    assert json.loads(Path(got).read_text()) == {"model_type": "llama"}
    assert hub.stats.snapshot()["cdn"]["requests"] == 2  # small files answer 200 directly


def test_session_range_get_follows_to_the_cdn(fakehub_server, repos: Path) -> None:
    hub: fakehub.RunningHub = fakehub_server(repos=[repos])
    data = (repos / "acme" / "gated" / "model.safetensors").read_bytes()
    s = get_session()
    url = f"{hub.url}/acme/gated/resolve/main/model.safetensors"
    head = s.head(url, headers={"Authorization": f"Bearer {TOKEN}"}, follow_redirects=False)
    assert head.status_code == 302
    assert head.headers["X-Linked-Size"] == str(len(data))
    assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert head.headers["X-Repo-Commit"] == HfApi(endpoint=hub.url).model_info("acme/gated").sha
    assert len(head.headers["X-Xet-Hash"]) == 64
    loc = head.headers["Location"]
    assert loc.startswith(hub.cdn_url + "/xet-bridge-us/") and "X-Amz-Signature=" in loc
    r = s.get(url, headers={"Range": "bytes=8-99", "Authorization": f"Bearer {TOKEN}"}, follow_redirects=True)
    assert r.status_code == 206 and r.content == data[8:100]
    assert r.headers["Content-Range"] == f"bytes 8-99/{len(data)}"
    assert not [k for k in r.headers if k.lower().startswith("x-")] and "ratelimit" not in r.headers
    assert [h.status_code for h in r.history] == [302]
    r = s.get(url, headers={"Range": f"bytes={len(data) - 5}-", "Authorization": f"Bearer {TOKEN}"},
              follow_redirects=False)
    assert r.status_code == 302  # resolve itself never answers the range of an LFS file
    assert hub.stats.snapshot()["cdn"] == {"requests": 1, "with_authorization": 0}
    bad = s.get(loc.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert bad.status_code == 403 and not [k for k in bad.headers if k.lower().startswith("x-")]


def test_cdn_has_no_quota(fakehub_server, repos: Path) -> None:
    hub: fakehub.RunningHub = fakehub_server(repos=[repos], quota_resolvers=2)
    s = get_session()
    url = f"{hub.url}/acme/open/resolve/main/model.safetensors"
    first = s.head(url, follow_redirects=False)
    assert first.status_code == 302
    loc = first.headers["Location"]
    for _ in range(5):
        assert s.get(loc, headers={"Range": "bytes=0-7"}).status_code == 206
    assert s.head(url, follow_redirects=False).status_code == 302
    r = s.head(url, follow_redirects=False)
    assert r.status_code == 429 and r.headers["RateLimit"].startswith('"resolvers";r=0;')
    assert int(r.headers["Retry-After"]) > 0
    assert s.get(loc).status_code == 200  # still served
    assert hub.stats.snapshot()["by_bucket"] == {"api": 0, "resolvers": 3, "cdn": 6}


def test_cdn_url_is_known_to_subprocess_users(fakehub_subprocess) -> None:
    hub = fakehub_subprocess("--synthetic", "20")
    health = get_session().get(f"{hub.url}/_fakehub/health").json()
    assert health["cdn"].startswith("http://127.0.0.1:") and health["cdn"] != hub.url
