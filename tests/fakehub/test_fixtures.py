"""The real fixture repos (tests/fixtures/hub) are served byte-exact and parsed as the files say."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download
from safetensors import safe_open

REPO = "sentence-transformers/all-MiniLM-L6-v2"


def _local_header(path: Path) -> dict:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n])


def test_fixture_listing_and_info(fakehub_server, fixtures_hub: Path, hf_env) -> None:
    hub = fakehub_server(repos=[fixtures_hub])
    api = HfApi(endpoint=hub.url)
    [m] = list(
        api.list_models(expand=["safetensors", "createdAt", "library_name", "pipeline_tag", "tags", "config"])
    )
    assert m.id == REPO
    assert m.safetensors.parameters == {"F32": 22_713_216, "I64": 512} and m.safetensors.total == 22_713_728
    assert m.created_at.isoformat() == "2022-03-02T23:29:04+00:00"
    assert m.library_name == "sentence-transformers" and m.pipeline_tag == "sentence-similarity"
    assert m.config == {"architectures": ["BertModel"], "model_type": "bert"}
    info = api.model_info(REPO, files_metadata=True)
    st = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert st.size == 90_868_376
    assert st.lfs.sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_fixture_header_parsed_byte_exact(fakehub_server, fixtures_hub: Path, hf_env) -> None:
    hub = fakehub_server(repos=[fixtures_hub])
    local = _local_header(fixtures_hub / REPO / "model.safetensors")
    md = HfApi(endpoint=hub.url).get_safetensors_metadata(REPO)
    fm = md.files_metadata["model.safetensors"]
    assert fm.metadata == local["__metadata__"] == {"format": "pt"}
    assert len(fm.tensors) == len(local) - 1 == 104
    for name, ti in fm.tensors.items():
        assert [ti.dtype, ti.shape, list(ti.data_offsets)] == [
            local[name]["dtype"],
            local[name]["shape"],
            list(local[name]["data_offsets"]),
        ]
    assert md.parameter_count == {"F32": 22_713_216, "I64": 512}
    assert hub.catalog.truth(REPO)["files"]["model.safetensors"]["header_len"] == 11_408


def test_fixture_download_is_stored_bytes_then_zeros(
    fakehub_server, fixtures_hub: Path, hf_env: Path
) -> None:
    hub = fakehub_server(repos=[fixtures_hub])
    stored = (fixtures_hub / REPO / "model.safetensors").read_bytes()
    path = Path(hf_hub_download(REPO, "model.safetensors", endpoint=hub.url, cache_dir=hf_env))
    assert path.stat().st_size == 90_868_376
    with path.open("rb") as f:
        assert f.read(len(stored)) == stored
        assert f.read(1 << 20) == bytes(1 << 20)
    with safe_open(str(path), "np") as f:
        assert f.metadata() == {"format": "pt"}
        keys = set(f.keys())
        assert keys == set(_local_header(fixtures_hub / REPO / "model.safetensors")) - {"__metadata__"}
        assert f.get_slice("embeddings.position_ids").get_shape() == [1, 512]
    config = hf_hub_download(REPO, "config.json", endpoint=hub.url, cache_dir=hf_env)
    assert Path(config).read_bytes() == (fixtures_hub / REPO / "config.json").read_bytes()
