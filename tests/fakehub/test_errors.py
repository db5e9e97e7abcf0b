"""The error table of HUB_API.md, pinned by status, headers and the unmodified client's exception class."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hubcensus.fakehub.access import DENIED_TOKEN
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hubcensus import fakehub

TOKEN = "hf_fakehub_test_token"
MISSING = "nobody/nothing"
PRIVATE = "fakehub-hostile/cut-short"
DISABLED = "fakehub-hostile/not-json"
GATED = "fakehub-hostile/overlapping"
OPEN = "fakehub-hostile/len-10gb"


@pytest.fixture(scope="module")
def hub() -> Iterator[fakehub.RunningHub]:
    with fakehub.start(fakehub.FakeHubConfig(hostile=True)) as h:
        h.set_state(PRIVATE, private=True)
        h.set_state(DISABLED, disabled=True)
        h.set_state(GATED, gated="manual")
        yield h


def get(hub: fakehub.RunningHub, path: str, token: str | None = None, method: str = "GET"):
    u = urlsplit(hub.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, dict(r.headers), body


@pytest.mark.parametrize("repo", [MISSING, PRIVATE])
@pytest.mark.parametrize("path", ["/api/models/{id}", "/{id}/resolve/main/config.json",
                                  "/{id}/raw/main/config.json", "/api/models/{id}/revision/main"])
def test_missing_and_private_look_the_same(hub: fakehub.RunningHub, repo: str, path: str) -> None:
    status, headers, body = get(hub, path.format(id=repo))
    assert (status, headers.get("X-Error-Code"), json.loads(body)) == (
        401, "RepoNotFound", {"error": "Invalid username or password."})
    status, headers, _ = get(hub, path.format(id=repo), TOKEN)
    assert (status, headers.get("X-Error-Code")) == (404, "RepoNotFound")


def test_missing_and_private_client_classes(hub: fakehub.RunningHub, hf_env: Path) -> None:
    for token in (False, TOKEN):
        api = HfApi(endpoint=hub.url, token=token)
        for repo in (MISSING, PRIVATE):
            with pytest.raises(RepositoryNotFoundError):
                api.model_info(repo)
            with pytest.raises(RepositoryNotFoundError):
                hf_hub_download(repo, "config.json", endpoint=hub.url, cache_dir=hf_env, token=token)
    assert PRIVATE not in {m.id for m in HfApi(endpoint=hub.url).list_models()}


def test_gated_metadata_open_files_closed(hub: fakehub.RunningHub, hf_env: Path) -> None:
    anon = HfApi(endpoint=hub.url, token=False)
    assert anon.model_info(GATED).gated == "manual"
    listed = {m.id: m.gated for m in anon.list_models(expand=["gated"])}
    assert listed[GATED] == "manual" and listed[OPEN] is False
    status, headers, _ = get(hub, f"/{GATED}/resolve/main/model.safetensors", method="HEAD")
    assert (status, headers["X-Error-Code"]) == (401, "GatedRepo")
    status, headers, _ = get(hub, f"/{GATED}/resolve/main/model.safetensors", DENIED_TOKEN)
    assert (status, headers["X-Error-Code"]) == (403, "GatedRepo")
    assert get(hub, f"/{GATED}/resolve/main/config.json", TOKEN)[0] == 200
    with pytest.raises(GatedRepoError) as e:
        hf_hub_download(GATED, "config.json", endpoint=hub.url, cache_dir=hf_env, token=False)
    assert e.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as e:
        HfApi(endpoint=hub.url, token=DENIED_TOKEN).parse_safetensors_file_metadata(GATED, "model.safetensors")
    assert e.value.response.status_code == 403
    got = hf_hub_download(GATED, "config.json", endpoint=hub.url, cache_dir=hf_env, token=TOKEN)
    assert json.loads(Path(got).read_text())["model_type"] == "llama"


def test_disabled(hub: fakehub.RunningHub, hf_env: Path) -> None:
    for token in (None, TOKEN):
        for path in (f"/api/models/{DISABLED}", f"/{DISABLED}/resolve/main/config.json"):
            status, headers, body = get(hub, path, token)
            assert status == 403 and "X-Error-Code" not in headers
            assert json.loads(body) == {"error": "Access to this resource is disabled."}
    with pytest.raises(DisabledRepoError):
        HfApi(endpoint=hub.url).model_info(DISABLED)
    with pytest.raises(LocalEntryNotFoundError) as e:  # the client wraps a failed HEAD of a disabled repo
        hf_hub_download(DISABLED, "config.json", endpoint=hub.url, cache_dir=hf_env)
    assert isinstance(e.value.__cause__, DisabledRepoError)
    listed = {m.id: m.disabled for m in HfApi(endpoint=hub.url).list_models(expand=["disabled"])}
    assert listed[DISABLED] is True and listed[OPEN] is False


def test_bad_token(hub: fakehub.RunningHub, hf_env: Path) -> None:
    for path in ("/api/models", f"/api/models/{OPEN}", f"/{OPEN}/resolve/main/config.json"):
        status, headers, body = get(hub, path, "not-a-token")
        assert status == 401 and json.loads(body) == {"error": "Invalid credentials in Authorization header"}
        assert "X-Error-Code" not in headers
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(endpoint=hub.url, token="bad").model_info(OPEN)
    assert not isinstance(e.value, RepositoryNotFoundError) and e.value.response.status_code == 401


def test_wrong_revision_and_missing_file(hub: fakehub.RunningHub, hf_env: Path) -> None:
    sha = HfApi(endpoint=hub.url).model_info(OPEN).sha
    for token in (None, TOKEN):
        for path in (f"/api/models/{OPEN}/revision/v9", f"/{OPEN}/resolve/v9/config.json"):
            status, headers, _ = get(hub, path, token)
            assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
        status, headers, _ = get(hub, f"/{OPEN}/resolve/main/nope.txt", token)
        assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (404, "EntryNotFound", sha)
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=hub.url).model_info(OPEN, revision="v9")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(OPEN, "config.json", revision="v9", endpoint=hub.url, cache_dir=hf_env)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(OPEN, "nope.txt", endpoint=hub.url, cache_dir=hf_env)
    assert HfApi(endpoint=hub.url).model_info(OPEN, revision=sha).sha == sha


def test_unknown_routes_are_plain_404(hub: fakehub.RunningHub) -> None:
    for path in (f"/api/models/{OPEN}/safetensors-metadata/model.safetensors.index.json", "/api/spaces",
                 f"/api/models/{OPEN}/revision", "/nothing"):
        status, headers, _ = get(hub, path)
        assert status == 404 and "X-Error-Code" not in headers, path


def test_head_on_api_routes_answers_like_get(hub: fakehub.RunningHub) -> None:
    for path in ("/api/models?limit=2", f"/api/models/{OPEN}", f"/api/models/{OPEN}/tree/main"):
        g_status, _, g_body = get(hub, path)
        h_status, h_headers, h_body = get(hub, path, method="HEAD")
        assert (h_status, h_body) == (g_status, b"") and h_headers["Content-Length"] == str(len(g_body))
    assert get(hub, f"/api/models/{MISSING}", method="HEAD")[0] == 401
