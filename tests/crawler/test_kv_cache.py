"""KV-cache rules on real config.json files (../shared/realdata/configs) and constructed ones, exact figures.

The configs are loaded by `kv_configs.load` (see kv_configs.py): a real one skips when ../shared is absent.
"""

from __future__ import annotations

import pytest
from hubcensus.crawler.config_pass import config_row
from hubcensus.crawler.counting.kv_cache import analyze_config, longest_context
from hubcensus.crawler.counting.kv_check import cross_check
from hubcensus.crawler.formats.tensor_table import Tensor
from kv_configs import CONSTRUCTED, DERIVED, REAL, load

# name: (bytes/token bf16, full part, sliding part, window, attention, max_context, rule)
EXPECTED = {
    "gpt2": (36_864, 36_864, 0, None, "mha", 1024, "gpt2-style"),
    "bloom": (4_014_080, 4_014_080, 0, None, "mha", None, "gpt2-style"),
    "bloom-560m": (98_304, 98_304, 0, None, "mha", None, "gpt2-style"),
    "qwen-72b": (2_621_440, 2_621_440, 0, None, "mha", 8192, "qwen-v1"),
    "falcon-7b": (8_192, 8_192, 0, None, "mqa", None, "falcon"),
    "falcon-180b-chat": (163_840, 163_840, 0, None, "gqa", None, "falcon"),
    "llama-3-8b": (131_072, 131_072, 0, None, "gqa", 8192, "llama-style"),
    "llama-3.1-8b": (131_072, 131_072, 0, None, "gqa", 131072, "llama-style"),
    "llama-3.1-8b-shape": (131_072, 131_072, 0, None, "gqa", 131072, "llama-style"),
    "mistral-7b-v0.1": (131_072, 0, 131_072, 4096, "gqa", 32768, "llama-style+sliding-all-layers"),
    "devstral-small-2507": (163_840, 163_840, 0, None, "gqa", 131072, "llama-style"),
    "gemma-2b-it": (18_432, 18_432, 0, None, "mqa", 8192, "llama-style"),
    "gemma-2b-shape": (18_432, 18_432, 0, None, "mqa", 8192, "llama-style"),
    "gemma-2-9b": (344_064, 172_032, 172_032, 4096, "gqa", 8192, "llama-style+gemma2-alternation"),
    "gemma-3-1b-it": (26_624, 4_096, 22_528, 512, "mqa", 32768, "llama-style+sliding-pattern"),
    "gemma-3-4b-it": (139_264, 20_480, 118_784, 1024, "gqa", 131072, "llama-style+sliding-pattern"),
    "medgemma-27b-it": (507_904, 81_920, 425_984, 1024, "gqa", 131072, "llama-style+layer-types"),
    "qwen2.5-7b": (57_344, 57_344, 0, None, "gqa", 131072, "llama-style"),
    "qwen2.5-7b-sliding": (57_344, 40_960, 16_384, 4096, "gqa", 131072, "llama-style+qwen-max-window-layers"),
    "qwen3-4b": (147_456, 147_456, 0, None, "gqa", 40960, "llama-style"),
    "deepseek-r1": (70_272, 70_272, 0, None, "mla", 163840, "mla"),
    "jamba-v0.1": (16_384, 16_384, 0, None, "hybrid", 262144, "llama-style+jamba-period"),
    "gpt-oss-20b": (49_152, 24_576, 24_576, 128, "gqa", 131072, "llama-style+layer-types"),
}


def test_every_config_has_its_figures() -> None:
    assert set(EXPECTED) == {*REAL, *DERIVED, *CONSTRUCTED}


def test_constructed_shapes_match_the_real_configs() -> None:
    """The census's constructed shapes give the same `model_configs` row as the real configs."""
    for shape, real in (("llama-3.1-8b-shape", "llama-3.1-8b"), ("gemma-2b-shape", "gemma-2b-it")):
        assert config_row("m", "s", load(shape)) == config_row("m", "s", load(real))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rule_figures(name: str) -> None:
    per_token, full, sliding, window, attention, context, rule = EXPECTED[name]
    layout = analyze_config(load(name))
    assert layout.reason is None
    assert layout.bytes_per_token() == per_token
    assert (layout.full_elements * 2, layout.sliding_elements * 2) == (full, sliding)
    assert layout.sliding_window == window
    assert layout.attention == attention
    assert layout.max_context == context
    assert layout.rule == rule


def test_anchors() -> None:
    llama = analyze_config(load("llama-3-8b"))
    assert (llama.layers, llama.kv_heads, llama.head_dim) == (32, 8, 128)
    assert llama.kv_bytes(8192) == 2**30
    gemma = analyze_config(load("gemma-2b-it"))
    assert (gemma.layers, gemma.kv_heads, gemma.head_dim) == (18, 1, 256)
    assert gemma.bytes_per_token() == 18 * 1 * 256 * 2 * 2


def test_sliding_layers_are_capped_at_the_window() -> None:
    oss = analyze_config(load("gpt-oss-20b"))
    assert oss.kv_bytes(100) == 49_152 * 100
    assert oss.kv_bytes(32768) == 24_576 * 32768 + 24_576 * 128 == 808_452_096
    gemma3 = analyze_config(load("gemma-3-1b-it"))
    assert (gemma3.full_layers, gemma3.sliding_layers) == (4, 22)
    assert gemma3.kv_bytes(32768) == 4_096 * 32768 + 22_528 * 512 == 145_752_064
    mistral = analyze_config(load("mistral-7b-v0.1"))
    assert mistral.kv_bytes(32768) == mistral.kv_bytes(4096) == 131_072 * 4096
    gemma2 = analyze_config(load("gemma-2-9b"))
    assert gemma2.kv_bytes(8192) == 172_032 * 8192 + 172_032 * 4096 == 2_113_929_216


def test_batch_and_dtype_scale() -> None:
    llama = analyze_config(load("llama-3-8b"))
    assert llama.kv_bytes(8192, batch=4, dtype_bytes=1) == 4 * 2**29
    assert llama.bytes_per_token(4) == 262_144


def test_mla_reports_the_uncompressed_figure() -> None:
    ds = analyze_config(load("deepseek-r1"))
    assert (ds.kv_lora_rank, ds.qk_rope_head_dim, ds.kv_heads, ds.head_dim) == (512, 64, 1, 576)
    assert ds.uncompressed_elements * 2 == 61 * 128 * (128 + 64 + 128) * 2 == 4_997_120


def test_hybrid_counts_only_attention_layers() -> None:
    jamba = analyze_config(load("jamba-v0.1"))
    assert (jamba.layers, jamba.attention_layers) == (32, 4)


def test_layer_types_with_linear_attention_and_mamba() -> None:
    cfg = {
        "model_type": "qwen3_next",
        "num_hidden_layers": 4,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "max_position_embeddings": 262144,
        "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
    }
    layout = analyze_config(cfg)
    assert (layout.attention, layout.attention_layers, layout.bytes_per_token()) == (
        "hybrid",
        1,
        2 * 2 * 256 * 2,
    )
    nemotron = {
        "model_type": "nemotron_h",
        "num_hidden_layers": 6,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hybrid_override_pattern": "M-M*-M",
    }
    assert analyze_config(nemotron).bytes_per_token() == 1 * 8 * 128 * 2 * 2
    mamba = analyze_config(
        {"model_type": "mamba", "architectures": ["MambaForCausalLM"], "num_hidden_layers": 64}
    )
    assert (mamba.attention, mamba.bytes_per_token()) == ("none", 0)


def test_null_or_large_window_never_binds() -> None:
    qwen = analyze_config(load("qwen2.5-7b"))
    assert qwen.sliding_window is None
    cfg = load("gemma-3-1b-it") | {"sliding_window": 65536}
    layout = analyze_config(cfg)
    assert layout.sliding_layers == 0 and layout.bytes_per_token() == 26_624
    assert "sliding_window_never_binds" in layout.flags
    oss = load("gpt-oss-20b") | {"sliding_window": None}
    assert analyze_config(oss).kv_bytes(32768) == 49_152 * 32768


@pytest.mark.parametrize(
    ("cfg", "reason"),
    [
        ({"model_type": "x", "hidden_size": 64}, "no layer count"),
        ({"num_hidden_layers": 2, "hidden_size": 64}, "no attention head count"),
        ({"num_hidden_layers": 2, "num_attention_heads": 3, "hidden_size": 64}, "no head_dim"),
        (
            {
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "head_dim": 8,
                "layer_types": ["full_attention"],
            },
            "layer_types has 1 entries",
        ),
        (
            {"num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 8, "layer_types": ["weird"]},
            "unknown layer type",
        ),
        ([1, 2], "not a JSON object"),
    ],
)
def test_unknown_layouts_get_a_reason_not_a_guess(cfg: object, reason: str) -> None:
    layout = analyze_config(cfg)  # type: ignore[arg-type]
    assert layout.bytes_per_token() is None and layout.kv_bytes(1000) is None
    assert reason in layout.reason


def test_library_defaults_are_flagged() -> None:
    layout = analyze_config(load("gemma-3-4b-it"))
    assert "nested:text_config" in layout.flags
    assert "library_default:num_key_value_heads=4" in layout.flags


def test_longest_context() -> None:
    llama = analyze_config(load("llama-3-8b"))
    assert longest_context(llama, 2**30) == 8192
    assert longest_context(llama, 2**29) == 4096
    oss = analyze_config(load("gpt-oss-20b"))
    budget = oss.kv_bytes(20_000)
    assert longest_context(oss, budget) == 20_000
    assert longest_context(oss, 10**15) == 131072  # capped at the max context
    assert longest_context(oss, 128 * 49_152 - 1) == 127  # inside the window
    assert longest_context(analyze_config(load("gpt2")), -1) == 0


def _tensor(name: str, rows: int, dtype: str = "BF16") -> Tensor:
    return Tensor(name, dtype, (rows, 4096), rows * 4096 * 2)


def test_header_cross_check() -> None:
    llama = analyze_config(load("llama-3-8b"))
    good = [_tensor(f"model.layers.{i}.self_attn.k_proj.weight", 1024) for i in range(32)]
    assert cross_check(llama, good) == ("agrees", [])
    bad = [*good[:-1], _tensor("model.layers.31.self_attn.k_proj.weight", 4096)]
    verdict, flags = cross_check(llama, bad)
    assert verdict == "disagrees" and flags == ["kv_header_disagrees:k_proj rows [1024, 4096] != 1024"]
    packed = [_tensor(f"model.layers.{i}.self_attn.k_proj.weight", 4, "U8") for i in range(32)]
    assert cross_check(llama, packed) == (None, [])
    ds = analyze_config(load("deepseek-r1"))
    mla = [_tensor(f"model.layers.{i}.self_attn.kv_a_proj_with_mqa.weight", 576) for i in range(62)]
    assert cross_check(ds, mla) == ("agrees", [])
    falcon = analyze_config(load("falcon-7b"))
    fused = [
        _tensor(f"transformer.h.{i}.self_attention.query_key_value.weight", (71 + 2) * 64) for i in range(32)
    ]
    assert cross_check(falcon, fused) == ("agrees", [])
    vision = [_tensor("vision_tower.encoder.layers.0.self_attn.k_proj.weight", 1152)]
    assert cross_check(llama, good + vision)[0] == "agrees"


def test_chatglm_falcon_h1_llama4_and_encoder_decoder() -> None:
    from hubcensus.crawler.config_pass import config_row, wants_config

    # THUDM/chatglm3-6b (remote code): num_layers, multi_query_group_num, kv_channels, seq_length
    glm = {
        "architectures": ["ChatGLMModel"],
        "model_type": "chatglm",
        "num_layers": 28,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "kv_channels": 128,
        "multi_query_attention": True,
        "multi_query_group_num": 2,
        "seq_length": 8192,
    }
    layout = analyze_config(glm)
    assert (layout.rule, layout.kv_heads, layout.bytes_per_token(), layout.max_context) == (
        "chatglm",
        2,
        28 * 2 * 128 * 2 * 2,
        8192,
    )
    assert wants_config(None, "ChatGLMModel")
    # Falcon-H1-shaped: attention beside Mamba in every layer, GQA through num_key_value_heads
    h1 = {
        "architectures": ["FalconH1ForCausalLM"],
        "model_type": "falcon_h1",
        "num_hidden_layers": 24,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "max_position_embeddings": 16384,
    }
    assert analyze_config(h1).bytes_per_token() == 24 * 2 * 64 * 2 * 2
    llama4 = {
        "model_type": "llama4",
        "text_config": {
            "model_type": "llama4_text",
            "num_hidden_layers": 48,
            "num_attention_heads": 40,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "attention_chunk_size": 8192,
        },
    }
    assert "chunked" in analyze_config(llama4).reason
    whisper = {
        "architectures": ["WhisperForConditionalGeneration"],
        "is_encoder_decoder": True,
        "d_model": 384,
    }
    assert config_row("o/w", "s", whisper)["reason"] == "encoder-decoder model: not covered"
    t5 = {
        "architectures": ["T5ForConditionalGeneration"],
        "num_layers": 6,
        "num_decoder_layers": 6,
        "d_model": 512,
        "num_heads": 8,
        "d_kv": 64,
    }
    assert config_row("o/t", "s", t5)["kv_bytes_per_token"] is None


def test_kv_shared_layers_hold_no_cache_of_their_own() -> None:
    # google/gemma-3n-E2B-shaped text_config: 30 layers, the last 10 reuse earlier layers' KV cache
    types = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(30)]
    cfg = {
        "architectures": ["Gemma3nForConditionalGeneration"],
        "model_type": "gemma3n",
        "text_config": {
            "model_type": "gemma3n_text",
            "num_hidden_layers": 30,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "head_dim": 256,
            "sliding_window": 512,
            "max_position_embeddings": 32768,
            "layer_types": types,
            "num_kv_shared_layers": 10,
        },
    }
    layout = analyze_config(cfg)
    assert (layout.attention, layout.full_layers, layout.sliding_layers) == ("gqa", 4, 16)
    assert layout.bytes_per_token() == 20 * 2 * 256 * 2 * 2


def test_mpt_and_dbrx_attn_config() -> None:
    # databricks/dbrx-base: n_layers, n_heads, d_model, max_seq_len, attn_config.kv_n_heads (no attn_type)
    dbrx = {
        "architectures": ["DbrxForCausalLM"],
        "model_type": "dbrx",
        "n_layers": 40,
        "n_heads": 48,
        "d_model": 6144,
        "max_seq_len": 32768,
        "attn_config": {"clip_qkv": 8, "kv_n_heads": 8, "rope_theta": 500000},
    }
    layout = analyze_config(dbrx)
    assert (layout.rule, layout.kv_heads, layout.head_dim, layout.max_context) == ("dbrx", 8, 128, 32768)
    assert layout.bytes_per_token() == 40 * 8 * 128 * 2 * 2
    # mosaicml/mpt-7b: multi-head attention through attn_config
    mpt = {
        "architectures": ["MPTForCausalLM"],
        "model_type": "mpt",
        "n_layers": 32,
        "n_heads": 32,
        "d_model": 4096,
        "max_seq_len": 2048,
        "attn_config": {"attn_type": "multihead_attention", "alibi": True},
    }
    layout = analyze_config(mpt)
    assert (layout.rule, layout.attention, layout.bytes_per_token()) == (
        "gpt2-style",
        "mha",
        32 * 32 * 128 * 2 * 2,
    )
