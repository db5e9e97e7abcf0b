"""Tensor layouts of the quantization schemes, parameter accounting and the synthetic catalog's truth."""

from __future__ import annotations

import numpy as np
import pytest
from hubcensus.fakehub import layouts
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.rng import hash64, hash64_np, rand, rand_np
from hubcensus.fakehub.synthetic import SyntheticSource

SCHEMES = ("gptq", "awq", "bnb-4bit", "bnb-8bit", "fp8", "nvfp4", "compressed-tensors", "mlx")


def _by_name(arch: str, scheme: str, dtype: str = "BF16") -> dict[str, layouts.Tensor]:
    return {t.name: t for t in layouts.layout(arch, scheme, dtype)}


def test_linear_layouts_match_real_formats() -> None:
    x = "model.layers.0.mlp.down_proj"  # in=14336, out=4096
    i, o = 14336, 4096
    want = {
        "gptq": {
            "qweight": ("I32", (i // 8, o)),
            "qzeros": ("I32", (i // 128, o // 8)),
            "scales": ("F16", (i // 128, o)),
            "g_idx": ("I32", (i,)),
        },
        "awq": {
            "qweight": ("I32", (i, o // 8)),
            "qzeros": ("I32", (i // 128, o // 8)),
            "scales": ("F16", (i // 128, o)),
        },
        "bnb-4bit": {
            "weight": ("U8", (i * o // 2, 1)),
            "weight.absmax": ("F32", (i * o // 64,)),
            "weight.quant_map": ("F32", (16,)),
            "weight.quant_state.bitsandbytes__nf4": ("U8", (98,)),
        },
        "bnb-8bit": {"weight": ("I8", (o, i)), "SCB": ("F32", (o,))},
        "fp8": {"weight": ("F8_E4M3", (o, i)), "weight_scale_inv": ("F32", (o // 128, i // 128))},
        "nvfp4": {
            "weight": ("U8", (o, i // 2)),
            "weight_scale": ("F8_E4M3", (o, i // 16)),
            "weight_scale_2": ("F32", ()),
            "input_scale": ("F32", ()),
        },
        "compressed-tensors": {
            "weight_packed": ("I32", (o, i // 8)),
            "weight_scale": ("BF16", (o, i // 128)),
            "weight_shape": ("I64", (2,)),
        },
        "mlx": {
            "weight": ("U32", (o, i // 8)),
            "scales": ("BF16", (o, i // 64)),
            "biases": ("BF16", (o, i // 64)),
        },
    }
    for scheme, tensors in want.items():
        got = _by_name("7b", scheme)
        assert {
            n[len(x) + 1 :]: (t.dtype, t.shape) for n, t in got.items() if n.startswith(x + ".")
        } == tensors, scheme
        assert got["model.norm.weight"].dtype == "BF16"


def test_mxfp4_experts_layout() -> None:
    a = layouts.ARCHS["moe-20b"]
    t = _by_name("moe-20b", "mxfp4")
    p = "model.layers.0.mlp.experts."
    assert (t[p + "gate_up_proj_blocks"].dtype, t[p + "gate_up_proj_blocks"].shape) == (
        "U8",
        (a.experts, 2 * a.intermediate, a.hidden // 32, 16),
    )
    assert (t[p + "gate_up_proj_scales"].dtype, t[p + "gate_up_proj_scales"].shape) == (
        "U8",
        (a.experts, 2 * a.intermediate, a.hidden // 32),
    )
    assert t["model.layers.0.self_attn.q_proj.weight"].dtype == "BF16"


@pytest.mark.parametrize("scheme", (*SCHEMES, "mxfp4"))
def test_effective_parameters_unpack_to_the_plain_model(scheme: str) -> None:
    arch = "moe-20b" if scheme == "mxfp4" else "3b"
    plain = layouts.layout_counts(arch, "none", "BF16")[1]
    ts = layouts.layout(arch, scheme, "BF16")
    assert layouts.counts(ts)[1] == plain
    # the name rules used for on-disk repos agree with the synthetic layouts
    assert sum(t.numel * layouts.effective_mult(t.name, t.dtype, scheme) for t in ts) == plain


def test_big_models_sizes() -> None:
    by, eff, nbytes = layouts.layout_counts("12b", "none", "BF16")
    assert by == {"BF16": eff} and 11.9e9 < eff < 12.0e9 and 23.8e9 < nbytes < 23.9e9
    by, eff, nbytes = layouts.layout_counts("flux", "none", "BF16")
    assert 11.85e9 < eff < 11.95e9 and nbytes == 2 * eff


def test_header_bytes_are_valid_safetensors() -> None:
    ts = layouts.layout("tiny", "gptq", "F16")
    prefix, data = layouts.header_bytes(ts, {"format": "pt"})
    hdr = layouts.parse_header(prefix)
    assert len(prefix) % 8 == 0 and len(hdr) == len(ts)
    assert max(v["data_offsets"][1] for v in hdr.values()) == data == sum(t.nbytes for t in ts)


def test_rng_numpy_and_python_agree() -> None:
    idx = np.arange(0, 50_000, 37)
    assert hash64_np(5, idx, 9).tolist() == [hash64(5, int(i), 9) for i in idx]
    assert rand_np(5, idx, 1).tolist() == [rand(5, int(i), 1) for i in idx]


@pytest.fixture(scope="module")
def truths() -> list[dict]:
    cat = Catalog(SyntheticSource(6000, seed=2))
    return [cat.truth(i) for i in cat.ids()]


def test_truth_shapes_and_hub_convention(truths: list[dict]) -> None:
    kinds = {t["kind"] for t in truths}
    assert {"llm", "sd", "gguf", "bin", "gptq", "awq", "bnb4", "fp8", "mlx", "mxfp4", "nvfp4", "ct"} <= kinds
    for t in truths:
        assert len(t["sha"]) == 40 and t["created_at"].endswith("Z")
        if t["library_name"] == "diffusers":
            assert t["hub_safetensors"] is None and t["parameters_by_dtype"]
            assert any("/" in f for f in (t["files"] or t["pickle_files"]))  # pickle-only SD pipelines: .bin
        if t["quant_method"] == "gguf":
            assert t["hub_safetensors"] is None and t["gguf"]["total"] == t["effective_parameters"] > 0
        if t["kind"] == "bin":
            assert t["hub_safetensors"] is None and t["weight_format"] == "pickle"
            assert "pytorch_model.bin" in t["file_sizes"] or "pytorch_model.bin.index.json" in t["file_sizes"]
        if t["hub_safetensors"]:
            assert t["hub_safetensors"]["parameters"] == t["parameters_by_dtype"]
            assert t["hub_safetensors"]["total"] == sum(t["parameters_by_dtype"].values())
        if t["quant_method"] in SCHEMES:
            assert t["base_model"] and f"base_model:quantized:{t['base_model']}" in t["tags"]
            assert t["effective_parameters"] > sum(
                n for d, n in t["parameters_by_dtype"].items() if d in ("I32", "U32", "U8")
            )


def test_dtype_eras(truths: list[dict]) -> None:
    plain = [
        t for t in truths if t["quant_method"] == "none" and t["parameters_by_dtype"] and t["kind"] != "flux"
    ]
    old = [
        t["dtype"] for t in plain if t["last_modified"] < "2021" and t["created_at"].startswith("2022-03-02")
    ]
    new = [t["dtype"] for t in plain if t["created_at"] >= "2024"]
    assert old and old.count("F32") / len(old) > 0.7
    assert new and new.count("BF16") / len(new) > 0.55
    fp8_2025 = sum(t["quant_method"] == "fp8" for t in truths if t["created_at"] >= "2025")
    fp8_2024 = sum(t["quant_method"] == "fp8" for t in truths if "2024" <= t["created_at"] < "2025")
    assert fp8_2025 > fp8_2024
