"""fakehub's GGUF repos through the unmodified huggingface_hub client: listing `gguf` field, config {},
sizes from blobs=true and the tree, header bytes through the CDN redirect, read back by gguf.GGUFReader."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
from hubcensus.fakehub.app import FakeHubConfig, start
from hubcensus.fakehub.gguf_repos import ORG
from huggingface_hub import HfApi, hf_hub_download


@pytest.fixture(scope="module")
def hub():
    with start(FakeHubConfig(gguf=True)) as running:
        yield running


def test_listing_describes_one_file_and_config_is_empty(hub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    items = {m.id: m for m in api.list_models(author=ORG, expand=["gguf", "config", "siblings", "tags"])}
    llama = items[f"{ORG}/Llama-3.1-8B-Instruct-GGUF"]
    truth = hub.catalog.truth(llama.id)
    largest = max((p for p in truth["gguf_files"]), key=lambda p: truth["file_sizes"][p])
    assert llama.gguf["total"] == truth["gguf_files"][largest]["parameters"]
    assert llama.gguf["totalFileSize"] == truth["file_sizes"][largest]
    assert llama.gguf["architecture"] == "llama"
    assert llama.config == {}
    assert "base_model:quantized:meta-llama/Llama-3.1-8B-Instruct" in llama.tags
    assert sum(1 for s in llama.siblings if s.rfilename.endswith(".gguf")) == 12
    assert items[f"{ORG}/hostile-GGUF"].gguf is None


def test_sizes_from_blobs_and_tree_agree(hub, hf_env) -> None:
    api = HfApi(endpoint=hub.url)
    repo = f"{ORG}/Mixtral-8x7B-Instruct-GGUF"
    truth = hub.catalog.truth(repo)["file_sizes"]
    info = api.model_info(repo, files_metadata=True)
    assert {s.rfilename: s.size for s in info.siblings} == truth
    tree = {e.path: e.size for e in api.list_repo_tree(repo, recursive=True) if hasattr(e, "size")}
    assert tree == truth
    assert truth["Mixtral-8x7B-Instruct-Q4_K_M-00002-of-00003.gguf"] > 10_000_000_000


def test_small_file_downloads_whole_and_reads_back(hub, hf_env, tmp_path: Path) -> None:
    """The tiny little-endian variant is served whole (zeros after the header): GGUFReader agrees."""
    repo = f"{ORG}/tiny-llama-GGUF"
    path = hf_hub_download(repo, "tiny-llama-Q8_0.gguf", endpoint=hub.url, local_dir=tmp_path)
    reader = gguf.GGUFReader(path)
    want = hub.catalog.truth(repo)["gguf_files"]["tiny-llama-Q8_0.gguf"]
    assert len(reader.tensors) == want["tensor_count"]
    assert sum(int(t.n_elements) for t in reader.tensors) == want["parameters"]
    assert Path(path).stat().st_size == want["size"]
    types: dict[str, list[int]] = {}
    for t in reader.tensors:
        row = types.setdefault(t.tensor_type.name, [0, 0, 0])
        row[0] += 1
        row[1] += int(t.n_elements)
        row[2] += int(t.n_bytes)
    assert {k: tuple(v) for k, v in types.items()} == want["types"]
