"""The config.json dicts the KV-cache tests read: real ones from ../shared, and small ones constructed here.

- `REAL`: name -> file in `../shared/realdata/configs/` (byte-exact Hub config.json copies; its SOURCES.md
  names each origin). A test that loads one skips when ../shared is absent.
- `DERIVED`: a real config with a few keys changed at run time (a switch no real checkpoint turns on).
- `CONSTRUCTED`: written here by us, only the keys the KV rules read, with the published shape of the
  model named: the families ../shared holds no config of, and the shapes the known census stores.
"""

from __future__ import annotations

import json
from typing import Any

from shared_data import SHARED, shared_path

REAL = {
    "gpt2": "openai-community__gpt2.json",  # n_layer/n_head/n_embd, n_positions
    "bloom": "bigscience__bloom.json",  # ALiBi: no context limit in the config
    "qwen-72b": "Qwen__Qwen-72B.json",  # Qwen-v1 remote code: kv_channels, seq_length
    "falcon-180b-chat": "tiiuae__falcon-180B-chat.json",  # new_decoder_architecture -> num_kv_heads 8
    "llama-3-8b": "bingjieshengtian__Llama3-Chinese-8B.json",  # Meta-Llama-3-8B-Instruct fine-tune, same shapes
    "llama-3.1-8b": "meta-llama__Llama-3.1-8B.json",
    "devstral-small-2507": "mistralai__Devstral-Small-2507.json",  # head_dim 128 != 5120/32
    "gemma-2b-it": "google__gemma-2b-it.json",  # MQA, head_dim 256
    "medgemma-27b-it": "google__medgemma-27b-it.json",  # Gemma3 text_config.layer_types
    "qwen2.5-7b": "Qwen__Qwen2.5-7B.json",  # use_sliding_window false, window = max context
    "qwen3-4b": "Qwen__Qwen3-4B.json",  # head_dim 128 != 2560/32
    "deepseek-r1": "deepseek-ai__DeepSeek-R1.json",  # DeepseekV3 MLA: kv_lora_rank 512 + qk_rope_head_dim 64
    "gpt-oss-20b": "openai__gpt-oss-20b.json",  # layer_types alternation, window 128
}
DERIVED = {
    # Qwen2's sliding window switched on for the layers past max_window_layers
    "qwen2.5-7b-sliding": (
        "qwen2.5-7b",
        {"use_sliding_window": True, "max_window_layers": 20, "sliding_window": 4096},
    ),
}
CONSTRUCTED: dict[str, dict[str, Any]] = {
    "bloom-560m": {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "n_layer": 24, "n_head": 16,
                   "hidden_size": 1024},
    "falcon-7b": {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "num_hidden_layers": 32,
                  "num_attention_heads": 71, "hidden_size": 4544, "multi_query": True,
                  "new_decoder_architecture": False},
    "mistral-7b-v0.1": {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
                        "max_position_embeddings": 32768, "sliding_window": 4096},
    "gemma-2-9b": {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "num_hidden_layers": 42,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "hidden_size": 3584,
                   "max_position_embeddings": 8192, "sliding_window": 4096},
    "gemma-3-1b-it": {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "num_hidden_layers": 26,
                      "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "hidden_size": 1152,
                      "max_position_embeddings": 32768, "sliding_window": 512, "sliding_window_pattern": 6},
    # a text_config that leaves heads, KV heads, head_dim and context to Gemma3TextConfig's defaults
    "gemma-3-4b-it": {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                      "text_config": {"model_type": "gemma3_text", "num_hidden_layers": 34, "hidden_size": 2560,
                                      "sliding_window": 1024}},
    "jamba-v0.1": {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
                   "attn_layer_offset": 4, "attn_layer_period": 8, "max_position_embeddings": 262144,
                   "sliding_window": None},
    # the shapes the known census (tests/analysis/analysis_census.py) stores
    "llama-3.1-8b-shape": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 32,
                           "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
                           "max_position_embeddings": 131072},
    "gemma-2b-shape": {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "num_hidden_layers": 18,
                       "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "hidden_size": 2048,
                       "max_position_embeddings": 8192},
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    """The config dict of `name` (a fresh copy); skips when it is a real one and ../shared is absent."""
    if name in CONSTRUCTED:
        return json.loads(json.dumps(CONSTRUCTED[name]))
    if name in DERIVED:
        base, changes = DERIVED[name]
        return load(base) | changes
    return json.loads(shared_path("realdata", "configs", REAL[name]).read_text())


def available() -> list[str]:
    """The names loadable here: the constructed ones, plus the real and derived ones when ../shared holds them."""
    real = [n for n, f in REAL.items() if (SHARED / "realdata" / "configs" / f).is_file()]
    return sorted([*CONSTRUCTED, *real, *(n for n, (base, _) in DERIVED.items() if base in real)])
