"""Known-answer tests of quantization detection and honest parameter counting."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from builders import (
    FLUX_DEV_PARAMETERS,
    GPT2_SMALL_PARAMETERS,
    GPT_OSS_20B,
    LLAMA3_8B,
    TINYLLAMA_1_1B,
    TINYLLAMA_CONFIG,
    GptOssConfig,
    LlamaConfig,
    QwenV1Config,
    Spec,
    autogptq_llama_tensors,
    autogptq_qwen_v1_tensors,
    file_header,
    flux_transformer_tensors,
    gpt2_tensors,
    gpt_oss_original_tensors,
    gpt_oss_tensors,
    header_bytes,
    linear_tensors,
    llama_tensors,
    numel,
)
from hubcensus.crawler.counting.quant import read_config
from hubcensus.crawler.counting.weights import analyze, reconcile, tensor_role
from hubcensus.crawler.files.weightfiles import component_of
from hubcensus.crawler.formats.safetensors import parse_header, split_prefix
from huggingface_hub.hf_api import _parse_safetensors_header
from safetensors import safe_open
from safetensors.numpy import save_file

from hubcensus.dtypes import memory_bytes, storage_bytes

CFG = LlamaConfig()  # hidden 256, intermediate 768, 2 layers, vocab 1000, 4 heads / 2 kv heads of 64
GPTQ_CONFIG = {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}


def nbytes(tensors: list[Spec]) -> int:
    return sum(storage_bytes(d, math.prod(s)) or 0 for _, d, s in tensors)


def hub_counts(tensors: list[Spec]) -> dict[str, int]:
    """huggingface_hub's own parameter_count on the same header bytes."""
    prefix, _ = header_bytes(tensors)
    return dict(_parse_safetensors_header(prefix[8:], "m", "test").parameter_count)


def overhead_of(tensors: list[Spec], suffixes: tuple[str, ...]) -> int:
    return nbytes([t for t in tensors if t[0].endswith(suffixes)])


# (scheme, method, overhead suffixes) for the small llama: effective == unquantized count exactly.
SCHEMES = [
    ("gptq", "gptq", (".qzeros", ".scales", ".g_idx")),
    ("awq", "awq", (".qzeros", ".scales")),
    ("ct-pack", "compressed-tensors", (".weight_scale", ".weight_shape")),
    ("bnb-4bit", "bnb-4bit", (".absmax", ".nested_absmax", ".nested_quant_map", ".quant_map", "__nf4")),
    ("nvfp4", "nvfp4", (".weight_scale", ".weight_scale_2", ".input_scale")),
    ("mlx", "mlx", (".scales", ".biases")),
    ("fp8-block", "fp8", (".weight_scale_inv",)),
    ("bf16", "none", ()),
]


@pytest.mark.parametrize(("scheme", "method", "overhead"), SCHEMES)
def test_small_llama_effective_parameters_exact(scheme: str, method: str, overhead: tuple[str, ...]) -> None:
    tensors = llama_tensors(CFG, scheme)
    m = analyze([file_header("model.safetensors", tensors)])
    assert CFG.parameter_count() == 2_086_144
    assert m.effective_parameters == CFG.parameter_count()
    assert m.method == method
    assert m.storage_total == numel(tensors) and m.storage_parameters == hub_counts(tensors)
    assert m.weight_bytes == nbytes(tensors)
    assert m.overhead_bytes == overhead_of(tensors, overhead) if overhead else m.overhead_bytes == 0
    assert m.bits_per_parameter == m.weight_bytes * 8 / CFG.parameter_count()
    assert m.flags == []
    if method != "none":
        assert m.storage_total < m.effective_parameters or scheme == "fp8-block"


def test_gptq_llama3_8b_header_only(tmp_path: Path) -> None:
    tensors = llama_tensors(LLAMA3_8B, "gptq")
    m = analyze([file_header("model.safetensors", tensors)], GPTQ_CONFIG)
    assert m.effective_parameters == LLAMA3_8B.parameter_count() == 8_030_261_248
    assert (m.method, m.bits, m.dominant_dtype) == ("gptq", 4, "I32")
    # per linear: qweight in*out/2, qzeros in*out/256, scales in*out/64 bytes, g_idx 4*in
    linear = sum(i * o // 2 + i * o // 256 + i * o // 64 + 4 * i for _, i, o in LLAMA3_8B.linears())
    rest = 2 * (2 * 128_256 * 4096 + 4096 * (2 * 32 + 1))  # F16 embed + lm_head + norms
    assert m.weight_bytes == linear + rest
    assert m.overhead_bytes == sum(i * o // 256 + i * o // 64 + 4 * i for _, i, o in LLAMA3_8B.linears())
    assert round(m.bits_per_parameter, 4) == round((linear + rest) * 8 / 8_030_261_248, 4) == 5.7112
    assert "224 I32 qweight tensors" in m.evidence and m.evidence[-1] == (
        "quantization_config.quant_method=gptq bits=4 group_size=128"
    )
    roles = m.roles
    assert roles["mlp"]["formats"] == {
        "INT4": {"parameters": 32 * 3 * 4096 * 14336, "bytes": 32 * 3 * 4096 * 14336 // 2}
    }
    assert roles["embedding"]["formats"] == {
        "F16": {"parameters": 128_256 * 4096, "bytes": 2 * 128_256 * 4096}
    }
    hub = {"parameters": hub_counts(tensors), "total": numel(tensors)}
    assert reconcile(m, hub=hub) == [
        f"hub_undercounts_packed: hub={numel(tensors)} effective=8030261248 "
        f"({8_030_261_248 / numel(tensors):.2f}x)"
    ]


def test_llama3_8b_bf16_and_memory() -> None:
    m = analyze([file_header("model.safetensors", llama_tensors(LLAMA3_8B, "bf16"))])
    assert (m.effective_parameters, m.bits_per_parameter, m.method, m.bits) == (
        8_030_261_248,
        16.0,
        "none",
        None,
    )
    assert m.memory == {
        "as_stored": 16_060_522_496,
        "bf16": 16_060_522_496,
        "fp8": 8_030_261_248,
        "int4": 4_015_130_624,
    }
    assert m.to_dict()["memory"] == m.memory


@pytest.mark.parametrize("bits", [3, 8])
def test_gptq_bits_from_config(bits: int) -> None:
    tensors = llama_tensors(CFG, "gptq", bits=bits)
    config = {"quantization_config": {"quant_method": "gptq", "bits": bits, "group_size": 128}}
    m = analyze([file_header("model.safetensors", tensors)], config)
    assert (m.effective_parameters, m.bits) == (CFG.parameter_count(), bits)
    assert m.roles["attention"]["formats"][f"INT{bits}"]["parameters"] == 2 * (256 * 256 * 2 + 2 * 256 * 128)


@pytest.mark.parametrize(("scheme", "bits"), [("gptq", 8), ("gptq", 2), ("awq", 8), ("mlx", 8), ("mlx", 3)])
def test_bits_inferred_from_shapes_without_config(scheme: str, bits: int) -> None:
    tensors = llama_tensors(CFG, scheme, bits=bits)
    config = {"quantization": {"group_size": 64}} if scheme == "mlx" else None
    m = analyze([file_header("model.safetensors", tensors)], config)
    assert (m.method, m.effective_parameters, m.bits, m.flags) == (scheme, CFG.parameter_count(), bits, [])


def test_config_bits_mismatch_is_flagged_and_shapes_win() -> None:
    m = analyze([file_header("model.safetensors", llama_tensors(CFG, "gptq", bits=8))], GPTQ_CONFIG)
    assert (m.effective_parameters, m.bits) == (CFG.parameter_count(), 8)
    assert m.flags == ["config_bits_mismatch: config says bits=4, tensor shapes say 8"]


def test_mlx_bits_from_top_level_quantization_and_per_module_override() -> None:
    tensors = llama_tensors(CFG, "mlx", bits=8)
    m = analyze([file_header("model.safetensors", tensors)], {"quantization": {"group_size": 64, "bits": 8}})
    assert (m.effective_parameters, m.method, m.bits) == (CFG.parameter_count(), "mlx", 8)
    assert m.evidence[-1] == "quantization (mlx) bits=8 group_size=64"
    # one 8-bit module in an otherwise 4-bit model
    mixed = [
        t for t in llama_tensors(CFG, "mlx", bits=4) if not t[0].startswith("model.layers.0.mlp.down_proj.")
    ]
    mixed += linear_tensors("model.layers.0.mlp.down_proj", 768, 256, "mlx", bits=8)
    config = {
        "quantization": {
            "group_size": 64,
            "bits": 4,
            "model.layers.0.mlp.down_proj": {"bits": 8, "group_size": 64},
        }
    }
    m = analyze([file_header("model.safetensors", mixed)], config)
    assert m.effective_parameters == CFG.parameter_count() and m.bits == 4
    assert m.roles["mlp"]["formats"]["INT8"]["parameters"] == 768 * 256
    del config["quantization"]["model.layers.0.mlp.down_proj"]  # shapes alone still tell the 8-bit module
    assert analyze([file_header("model.safetensors", mixed)], config).to_dict() == m.to_dict()


def test_mlx_mxfp4_mode_and_exl2() -> None:
    rest = [t for t in llama_tensors(CFG, "bf16") if not t[0].endswith("_proj.weight")]
    mx, exl2 = [], []
    for module, fin, fout in CFG.linears():
        mx += [(module + ".weight", "U32", (fout, fin // 8)), (module + ".scales", "U8", (fout, fin // 32))]
        groups = fin // 32
        exl2 += [
            (module + ".q_weight", "I32", (fin * 9 // 64, fout)),  # ~4.5 bits per weight on average
            (module + ".q_scale", "I32", (groups, fout // 8)),
            (module + ".q_scale_max", "F16", (groups,)),
            (module + ".q_groups", "I16", (2 * groups,)),
            (module + ".q_invperm", "I16", (fin,)),
            (module + ".q_perm", "I16", (fin,)),
        ]
    config = {"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}}
    m = analyze([file_header("model.safetensors", rest + mx)], config)
    assert (m.method, m.method_detail, m.bits, m.effective_parameters) == (
        "mlx",
        "mxfp4",
        4,
        CFG.parameter_count(),
    )
    assert set(m.roles["mlp"]["formats"]) == {"MXFP4"}
    assert (
        analyze([file_header("model.safetensors", rest + mx)]).effective_parameters == CFG.parameter_count()
    )
    m = analyze([file_header("model.safetensors", rest + exl2)])
    assert (m.method, m.bits, m.effective_parameters) == ("exl2", None, CFG.parameter_count())
    linears = sum(i * o for _, i, o in CFG.linears())
    assert (
        m.roles["mlp"]["formats"]["EXL2"]["bytes"] * 8 / m.roles["mlp"]["formats"]["EXL2"]["parameters"]
        == 4.5
    )
    assert m.overhead_bytes == nbytes([t for t in exl2 if ".q_weight" not in t[0]])
    assert m.effective_parameters - linears == numel(rest) and linears == 1_572_864


def test_mxfp4_gpt_oss_small_and_20b() -> None:
    small = GptOssConfig()
    m = analyze(
        [file_header("model.safetensors", gpt_oss_tensors(small))],
        {"quantization_config": {"quant_method": "mxfp4"}},
    )
    assert (m.effective_parameters, m.method, m.bits, m.flags) == (small.parameter_count(), "mxfp4", 4, [])
    tensors = gpt_oss_tensors(GPT_OSS_20B)
    shards = [file_header(f"model-0000{i + 1}-of-00003.safetensors", tensors[i::3]) for i in range(3)]
    m = analyze(shards, {"quantization_config": {"quant_method": "mxfp4"}})
    assert m.effective_parameters == GPT_OSS_20B.parameter_count() == 20_914_757_184
    assert m.storage_total == numel(tensors) == 11_956_805_184
    assert m.files == 3 and m.file_bytes == sum(h.file_size for h in shards)
    blocks = 24 * 32 * (2 * 2880 * 2880 + 2880 * 2880)
    assert m.roles["experts"]["formats"]["MXFP4"] == {"parameters": blocks, "bytes": blocks // 2}
    assert m.roles["experts"]["overhead_bytes"] == blocks // 32  # one U8 E8M0 scale per 32 values
    assert m.roles["experts"]["storage"] == {
        "U8": {"parameters": blocks // 2 + blocks // 32, "bytes": blocks // 2 + blocks // 32},
        "BF16": {"parameters": 24 * 32 * (2 * 2880 + 2880), "bytes": 2 * 24 * 32 * (2 * 2880 + 2880)},
    }
    assert set(m.roles["attention"]["formats"]) == {"BF16"} and set(m.roles["norm"]["formats"]) == {"BF16"}
    assert m.dominant_dtype == "U8" and m.to_dict()["dominant_dtype_basis"] == "bytes"


def test_fp8_block_scaled_llama3_8b() -> None:
    tensors = llama_tensors(LLAMA3_8B, "fp8-block")
    m = analyze(
        [file_header("model.safetensors", tensors)],
        {"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}},
    )
    assert (m.effective_parameters, m.method, m.bits) == (8_030_261_248, "fp8", 8)
    scales = sum(4 * math.ceil(o / 128) * math.ceil(i / 128) for _, i, o in LLAMA3_8B.linears())
    assert m.overhead_bytes == scales
    mlp = m.roles["mlp"]
    params = mlp["formats"]["F8_E4M3"]["parameters"]
    assert params == mlp["formats"]["F8_E4M3"]["bytes"] == 32 * 3 * 4096 * 14336
    assert round((params + mlp["overhead_bytes"]) * 8 / params, 4) == 8.002  # ~8.0 bits per weight
    assert m.weight_bytes == 6_979_321_856 + 2 * 2 * 128_256 * 4096 + 2 * 4096 * 65 + scales


def test_compressed_tensors_config_and_float_quantized() -> None:
    config = {
        "quantization_config": {
            "quant_method": "compressed-tensors",
            "format": "pack-quantized",
            "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 128}}},
        }
    }
    m = analyze([file_header("model.safetensors", llama_tensors(CFG, "ct-pack"))], config)
    assert (m.method, m.method_detail, m.bits) == ("compressed-tensors", "pack-quantized", 4)
    fp8 = []
    for module, fin, fout in CFG.linears():
        fp8 += [
            (module + ".weight", "F8_E4M3", (fout, fin)),
            (module + ".weight_scale", "BF16", (fout, 1)),
            (module + ".input_scale", "BF16", (1,)),
        ]
    rest = [t for t in llama_tensors(CFG, "bf16") if not t[0].endswith("_proj.weight")]
    h = file_header("model.safetensors", rest + fp8)
    float_config = {
        "quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized"}
    }
    m = analyze([h], float_config)
    assert (m.method, m.method_detail, m.effective_parameters) == (
        "compressed-tensors",
        "float-quantized",
        CFG.parameter_count(),
    )
    assert analyze([h]).method == "fp8"  # tensors alone
    nv = [
        (module + s, d, shp)
        for module, fin, fout in CFG.linears()
        for s, d, shp in (
            (".weight_packed", "U8", (fout, fin // 2)),
            (".weight_scale", "F8_E4M3", (fout, fin // 16)),
            (".weight_global_scale", "F32", (1,)),
            (".input_global_scale", "F32", (1,)),
        )
    ]
    m = analyze([file_header("model.safetensors", rest + nv)])
    assert (m.method, m.effective_parameters, m.bits) == ("compressed-tensors", CFG.parameter_count(), 4)
    assert set(m.roles["mlp"]["formats"]) == {"NVFP4"}


def test_bnb_8bit_and_native_fp4() -> None:
    bnb8, f4 = [], []
    for module, fin, fout in CFG.linears():
        bnb8 += [
            (module + ".weight", "I8", (fout, fin)),
            (module + ".SCB", "F32", (fout,)),
            (module + ".weight_format", "U8", ()),
        ]
        f4 += [
            (module + ".weight", "F4", (fout, fin)),
            (module + ".weight_scale", "F8_E8M0", (fout, fin // 32)),
        ]
    rest = [t for t in llama_tensors(CFG, "f16") if not t[0].endswith("_proj.weight")]
    m = analyze([file_header("model.safetensors", rest + bnb8)])
    assert (m.method, m.effective_parameters, m.overhead_bytes) == (
        "bnb-8bit",
        CFG.parameter_count(),
        sum(4 * o + 1 for _, _, o in CFG.linears()),
    )
    m = analyze([file_header("model.safetensors", rest + f4)])
    assert (m.method, m.effective_parameters, m.bits) == ("fp4", CFG.parameter_count(), 4)
    assert m.storage_bytes["F4"] == sum(i * o for _, i, o in CFG.linears()) // 2


def test_flux_transformer_bf16_diffusers_components() -> None:
    tensors = flux_transformer_tensors()
    assert numel(tensors) == FLUX_DEV_PARAMETERS == 11_901_408_320
    single = file_header("transformer/diffusion_pytorch_model.safetensors", tensors)
    assert single.file_size == 8 + single.header_len + 2 * FLUX_DEV_PARAMETERS
    assert round(single.file_size / 1e9, 1) == 23.8
    shards = [
        file_header(f"transformer/diffusion_pytorch_model-0000{i + 1}-of-00003.safetensors", tensors[i::3])
        for i in range(3)
    ]
    vae = file_header(
        "vae/diffusion_pytorch_model.safetensors", [("decoder.conv_in.weight", "F32", (512, 16, 3, 3))]
    )
    m = analyze([*shards, vae])
    t = m.components["transformer"]
    assert (t.effective_parameters, t.bits_per_parameter, t.dominant_dtype, t.method) == (
        FLUX_DEV_PARAMETERS,
        16.0,
        "BF16",
        "none",
    )
    assert t.weight_bytes == 2 * FLUX_DEV_PARAMETERS == 23_802_816_640
    assert (
        t.file_bytes
        == sum(h.file_size for h in shards)
        == 2 * FLUX_DEV_PARAMETERS + sum(8 + h.header_len for h in shards)
    )
    assert (
        m.components["vae"].effective_parameters == 512 * 16 * 9
        and m.components["vae"].bits_per_parameter == 32.0
    )
    assert m.effective_parameters == FLUX_DEV_PARAMETERS + 512 * 16 * 9 and set(m.components) == {
        "transformer",
        "vae",
    }
    assert m.roles["attention"]["formats"]["BF16"]["parameters"] == (19 * 8 + 38 * 3) * (3072 * 3072 + 3072)
    d = m.to_dict()
    json.dumps(d)
    assert d["components"]["transformer"]["memory"]["bf16"] == 23_802_816_640


def test_gpt2_f32() -> None:
    m = analyze([file_header("model.safetensors", gpt2_tensors(), {"format": "pt"})])
    assert (m.effective_parameters, m.bits_per_parameter, m.dominant_dtype) == (
        GPT2_SMALL_PARAMETERS,
        32.0,
        "F32",
    )
    assert m.weight_bytes == 4 * GPT2_SMALL_PARAMETERS
    assert m.roles["embedding"]["formats"]["F32"]["parameters"] == 50257 * 768 + 1024 * 768


def test_real_small_gptq_file_written_by_safetensors(tmp_path: Path) -> None:
    fin, fout, g = 256, 128, 128
    rng = np.random.default_rng(1)
    arrays = {
        "l.qweight": rng.integers(0, 2**31, (fin // 8, fout), dtype=np.int32),
        "l.qzeros": rng.integers(0, 2**31, (fin // g, fout // 8), dtype=np.int32),
        "l.scales": rng.random((fin // g, fout)).astype(np.float16),
        "l.g_idx": (np.arange(fin) // g).astype(np.int32),
        "l.bias": np.zeros(fout, dtype=np.float16),
    }
    path = tmp_path / "model.safetensors"
    save_file(arrays, str(path), metadata={"format": "pt"})
    data = path.read_bytes()
    h = split_prefix(data[:100_001], path="model.safetensors", file_size=len(data))
    assert not isinstance(h, int) and h.file_size == len(data)
    with safe_open(str(path), framework="np") as f:
        assert sorted(f.keys()) == sorted(t.name for t in h.tensors)
    m = analyze([h], GPTQ_CONFIG)
    assert (m.method, m.effective_parameters) == ("gptq", fin * fout + fout)
    assert m.overhead_bytes == sum(arrays[k].nbytes for k in ("l.qzeros", "l.scales", "l.g_idx"))
    assert m.weight_bytes == sum(a.nbytes for a in arrays.values()) == h.data_end


def test_reconcile_flags() -> None:
    tensors = llama_tensors(CFG, "bf16")
    m = analyze([file_header("model.safetensors", tensors)])
    good = {"parameters": {"BF16": CFG.parameter_count()}, "total": CFG.parameter_count()}
    assert (
        reconcile(
            m,
            hub=good,
            index_metadata={"total_size": m.weight_bytes, "total_parameters": CFG.parameter_count()},
        )
        == []
    )
    bad = {"parameters": {"BF16": 5, "F32": 7}, "total": 13}
    assert reconcile(m, hub=bad, index_metadata={"total_size": 1, "total_parameters": 2}) == [
        "hub_total_mismatch: total=13 but per-dtype sum=12",
        f"hub_header_mismatch: BF16 hub=5 header={CFG.parameter_count()}; F32 hub=7 header=0",
        f"hub_undercounts_packed: hub=13 effective={CFG.parameter_count()} ({CFG.parameter_count() / 13:.2f}x)",
        f"index_total_size_mismatch: total_size=1 weight_bytes={m.weight_bytes}",
        f"declared_parameters_mismatch: total_parameters=2 storage={CFG.parameter_count()} "
        f"effective={CFG.parameter_count()}",
    ]
    flagged = analyze([file_header("model.safetensors", tensors)], hub=bad)
    assert [f.split(":")[0] for f in flagged.flags] == [
        "hub_total_mismatch",
        "hub_header_mismatch",
        "hub_undercounts_packed",
    ]


def test_config_versus_tensor_evidence() -> None:
    awq = file_header("model.safetensors", llama_tensors(CFG, "awq"))
    m = analyze([awq], GPTQ_CONFIG)
    assert m.method == "awq" and m.flags == ["config_method_mismatch: config says gptq, tensors say awq"]
    m = analyze([file_header("model.safetensors", llama_tensors(CFG, "bf16"))], GPTQ_CONFIG)
    assert m.method == "none"
    assert m.flags == ["config_quant_without_evidence: config says gptq but tensors are unquantized"]


def test_no_safetensors_gguf_and_config_only() -> None:
    m = analyze([], None, {"total": 7_241_732_096, "architecture": "llama", "context_length": 32768})
    assert (m.method, m.source, m.effective_parameters, m.weight_bytes) == ("gguf", "gguf", 7_241_732_096, 0)
    assert m.evidence == ["gguf total=7241732096"]
    bnb = {
        "quantization_config": {
            "quant_method": "bitsandbytes",
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
        }
    }
    m = analyze([], bnb)
    assert (m.method, m.method_detail, m.source, m.bits) == ("bnb-4bit", "nf4", "config", 4)
    m = analyze([])
    assert (m.method, m.source, m.bits_per_parameter) == ("unknown", "none", None)


def test_duplicate_tensor_across_shards_is_flagged() -> None:
    a = file_header(
        "model-00001-of-00002.safetensors", [("x.weight", "BF16", (4, 4)), ("y.weight", "BF16", (4,))]
    )
    b = file_header("model-00002-of-00002.safetensors", [("x.weight", "BF16", (4, 4))])
    m = analyze([a, b])
    assert m.storage_total == 36 and m.effective_parameters == 20
    assert m.flags == ["duplicate_tensor_names: 1 tensors appear in more than one file"]


def test_unknown_dtype_counted_and_flagged() -> None:
    prefix = b'{"w": {"dtype": "Q4_K", "shape": [256], "data_offsets": [0, 144]}}'
    h = parse_header(prefix, path="model.safetensors", header_len=len(prefix))
    m = analyze([h])
    assert m.storage_parameters == {"Q4_K": 256} and m.weight_bytes == 144 and m.unknown_dtypes == ["Q4_K"]
    assert m.flags == [
        "header_warning: model.safetensors: unknown dtypes (bytes counted from offsets): Q4_K",
        "size-unknown: model.safetensors: the Hub stated no size for it",
    ]
    assert m.file_bytes is None


def test_read_config_variants() -> None:
    assert (
        read_config({"quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4"}}).method
        == "nvfp4"
    )
    assert (
        read_config({"quantization_config": {"quant_method": "awq", "w_bit": 4, "q_group_size": 128}}).bits
        == 4
    )
    assert (
        read_config({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}).method
        == "bnb-8bit"
    )
    assert read_config({"model_type": "llama"}).method is None and read_config(None).method is None


def test_memory_bytes_and_components() -> None:
    assert memory_bytes(23_802_816_640, 11_901_408_320) == {
        "as_stored": 23_802_816_640,
        "bf16": 23_802_816_640,
        "fp8": 11_901_408_320,
        "int4": 5_950_704_160,
    }
    assert (component_of("model.safetensors"), component_of("text_encoder_2/model.safetensors")) == (
        "",
        "text_encoder_2",
    )


@pytest.mark.parametrize(
    ("name", "ndim", "role"),
    [
        ("model.embed_tokens.weight", 2, "embedding"),
        ("model.layers.0.self_attn.q_proj.qweight", 2, "attention"),
        ("model.layers.0.mlp.down_proj.weight", 2, "mlp"),
        ("model.layers.0.input_layernorm.weight", 1, "norm"),
        ("lm_head.weight", 2, "lm_head"),
        ("model.layers.3.mlp.experts.gate_up_proj_blocks", 4, "experts"),
        ("model.layers.3.block_sparse_moe.experts.7.w1.weight", 2, "experts"),
        ("model.layers.3.mlp.gate.weight", 2, "router"),
        ("model.layers.3.mlp.shared_experts.down_proj.weight", 2, "mlp"),
        ("encoder.layer.0.attention.output.dense.weight", 2, "attention"),
        ("encoder.layer.0.output.dense.weight", 2, "mlp"),
        ("h.0.attn.c_proj.weight", 2, "attention"),
        ("transformer_blocks.0.norm1.linear.weight", 2, "other"),
        ("pooler.dense.weight", 2, "other"),
    ],
)
def test_roles(name: str, ndim: int, role: str) -> None:
    assert tensor_role(name, ndim) == role


def test_bnb_4bit_fixture_shape_against_hub_counter() -> None:
    tensors = llama_tensors(CFG, "bnb-4bit")
    prefix, size = header_bytes(tensors)
    n = struct.unpack("<Q", prefix[:8])[0]
    h = parse_header(prefix[8:], path="model.safetensors", header_len=n, file_size=size)
    m = analyze(
        [h],
        {
            "quantization_config": {
                "quant_method": "bitsandbytes",
                "load_in_4bit": True,
                "bnb_4bit_quant_type": "nf4",
            }
        },
    )
    assert m.storage_parameters == hub_counts(tensors)
    assert (m.method, m.method_detail, m.effective_parameters) == ("bnb-4bit", "nf4", CFG.parameter_count())
    assert m.roles["mlp"]["formats"]["NF4"]["bytes"] == 2 * 3 * 256 * 768 // 2


@pytest.mark.parametrize(("bits", "group", "desc_act"), [(4, 128, False), (3, 128, True)])
def test_autogptq_tinyllama_counts_its_base_model(bits: int, group: int, desc_act: bool) -> None:
    """AutoGPTQ int4 and 3-bit act-order checkpoints of TinyLlama-1.1B: exactly the base model's parameters;
    the all-zero F16 biases AutoGPTQ writes on bias-free linears are overhead."""
    tensors = autogptq_llama_tensors(TINYLLAMA_1_1B, bits=bits, group=group)
    qc = {"quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": desc_act}
    m = analyze([file_header("model.safetensors", tensors)], {**TINYLLAMA_CONFIG, "quantization_config": qc})
    assert TINYLLAMA_1_1B.parameter_count() == 1_100_048_384
    assert (m.effective_parameters, m.method, m.bits, m.flags) == (1_100_048_384, "gptq", bits, [])
    qweight_rows = {t[2][0] for t in tensors if t[0].endswith("mlp.down_proj.qweight")}
    assert qweight_rows == {5632 * bits // 32}  # 32/bits values per I32, 3-bit included
    added = [t for t in tensors if t[0].endswith(".bias")]
    assert len(added) == 22 * 7
    assert m.overhead_bytes == overhead_of(tensors, (".qzeros", ".scales", ".g_idx", ".bias"))
    assert m.storage_total == numel(tensors) > 0
    # without the architecture's word, a bias is a parameter: the count is honest about what it knows
    bare = analyze([file_header("model.safetensors", tensors)], {"quantization_config": qc})
    assert bare.effective_parameters == 1_100_048_384 + numel(added)


def test_autogptq_qwen_v1_keeps_its_real_c_attn_bias() -> None:
    cfg = QwenV1Config()
    tensors = autogptq_qwen_v1_tensors(cfg)
    config = {
        "model_type": "qwen",
        "no_bias": True,
        "quantization_config": {"quant_method": "gptq", "bits": 4},
    }
    m = analyze([file_header("model.safetensors", tensors)], config)
    assert QwenV1Config(layers=24).parameter_count() == 1_836_828_672  # Qwen-1_8B
    assert (m.effective_parameters, m.method, m.bits) == (cfg.parameter_count(), "gptq", 4)
    added = [t for t in tensors if t[0].endswith(".bias") and ".c_attn." not in t[0]]
    assert m.overhead_bytes == overhead_of(tensors, (".qzeros", ".scales", ".g_idx")) + nbytes(added)
    real = analyze([file_header("model.safetensors", tensors)], {**config, "no_bias": False})
    assert real.effective_parameters == cfg.parameter_count() + numel(added)


def test_attention_bias_flag_overrides_the_model_type() -> None:
    tensors = autogptq_llama_tensors(CFG, bits=4)
    qc = {"quant_method": "gptq", "bits": 4}
    with_bias = analyze([file_header("m.safetensors", tensors)], {"model_type": "llama", "attention_bias": True,
                                                                   "quantization_config": qc})  # fmt: skip
    attention_biases = [t for t in tensors if t[0].endswith("_proj.bias") and ".self_attn." in t[0]]
    assert with_bias.effective_parameters == CFG.parameter_count() + numel(attention_biases)


def test_gpt_oss_reference_checkpoint_dot_blocks_and_scales() -> None:
    """original/model.safetensors of openai/gpt-oss-20b: `.blocks`/`.scales` unpack like `_blocks`/`_scales`."""
    tensors = gpt_oss_original_tensors(GPT_OSS_20B)
    m = analyze([file_header("original/model.safetensors", tensors)])
    assert (m.effective_parameters, m.method) == (20_914_757_184, "mxfp4")
    assert m.storage_total == numel(gpt_oss_tensors(GPT_OSS_20B)) == 11_956_805_184
    assert m.overhead_bytes == overhead_of(tensors, (".scales",)) and m.bits == 4
