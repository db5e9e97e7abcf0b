"""--repos DIR: real safetensors files (written with the safetensors library), subfolders, shards, hub.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError
from safetensors.numpy import save_file


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    sharded = root / "acme" / "tiny-sharded"
    sharded.mkdir(parents=True)
    s1 = {
        "model.embed_tokens.weight": np.zeros((64, 16), np.float16),
        "model.norm.weight": np.zeros(16, np.float32),
    }
    s2 = {"lm_head.weight": np.zeros((64, 16), np.float16), "model.layers.0.step": np.zeros((2, 3), np.int64)}
    save_file(s1, str(sharded / "model-00001-of-00002.safetensors"), metadata={"format": "pt"})
    save_file(s2, str(sharded / "model-00002-of-00002.safetensors"), metadata={"format": "pt"})
    wmap = {
        **{k: "model-00001-of-00002.safetensors" for k in s1},
        **{k: "model-00002-of-00002.safetensors" for k in s2},
    }
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 4 * 1024 + 64 + 48}, "weight_map": wmap})
    )
    (sharded / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16})
    )
    (sharded / "hub.json").write_text(
        json.dumps(
            {
                "createdAt": "2024-05-01T10:00:00.000Z",
                "library_name": "transformers",
                "pipeline_tag": "text-generation",
                "gated": "manual",
                "likes": 3,
            }
        )
    )
    diff = root / "acme" / "tiny-diffusers"
    (diff / "transformer").mkdir(parents=True)
    save_file(
        {"proj.weight": np.zeros((8, 8), np.float32)},
        str(diff / "transformer" / "diffusion_pytorch_model.safetensors"),
    )
    (diff / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    gptq = root / "quant" / "tiny-gptq"
    gptq.mkdir(parents=True)
    i, o = 256, 128
    save_file(
        {
            "l.qweight": np.zeros((i // 8, o), np.int32),
            "l.qzeros": np.zeros((i // 128, o // 8), np.int32),
            "l.scales": np.zeros((i // 128, o), np.float16),
            "l.g_idx": np.zeros(i, np.int32),
            "norm.weight": np.zeros(o, np.float16),
        },
        str(gptq / "model.safetensors"),
    )
    (gptq / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128},
            }
        )
    )
    return root


def test_disk_repos_served_exactly(fakehub_server, repos: Path, hf_env: Path) -> None:
    hub = fakehub_server(repos=[repos])
    api = HfApi(endpoint=hub.url)
    listed = {
        m.id: m for m in api.list_models(expand=["safetensors", "gated", "config", "createdAt", "siblings"])
    }
    assert set(listed) == {"acme/tiny-sharded", "acme/tiny-diffusers", "quant/tiny-gptq"}
    sh = listed["acme/tiny-sharded"]
    assert sh.safetensors.parameters == {"F16": 2048, "F32": 16, "I64": 6} and sh.gated == "manual"
    assert sh.config == {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    assert (
        listed["acme/tiny-diffusers"].safetensors is None
    )  # weights only in subfolders: the Hub reports none
    assert "transformer/diffusion_pytorch_model.safetensors" in [
        s.rfilename for s in listed["acme/tiny-diffusers"].siblings
    ]
    with pytest.raises(GatedRepoError):
        api.get_safetensors_metadata("acme/tiny-sharded")
    authed = HfApi(endpoint=hub.url, token="hf_test")
    md = authed.get_safetensors_metadata("acme/tiny-sharded")
    assert md.sharded and md.parameter_count == {"F16": 2048, "F32": 16, "I64": 6}
    local = repos / "acme" / "tiny-diffusers" / "transformer" / "diffusion_pytorch_model.safetensors"
    got = hf_hub_download(
        "acme/tiny-diffusers",
        "transformer/diffusion_pytorch_model.safetensors",
        endpoint=hub.url,
        cache_dir=hf_env,
    )
    assert Path(got).read_bytes() == local.read_bytes()
    info = api.model_info("acme/tiny-diffusers", files_metadata=True)
    sib = next(s for s in info.siblings if s.rfilename.startswith("transformer/"))
    assert sib.lfs.sha256 == __import__("hashlib").sha256(local.read_bytes()).hexdigest()
    t = hub.catalog.truth("quant/tiny-gptq")
    assert t["quant_method"] == "gptq" and t["effective_parameters"] == 256 * 128 + 128
    assert t["parameters_by_dtype"] == {"I32": 32 * 128 + 2 * 16 + 256, "F16": 2 * 128 + 128}
    assert hub.catalog.truth("acme/tiny-diffusers")["parameters_by_dtype"] == {"F32": 64}
