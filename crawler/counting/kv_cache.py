"""KV cache per token from a model's config.json: pure rules, each family named.

What an engine allocates per token of one sequence, summed over the layers that hold a cache:

- multi-head / grouped-query / multi-query attention: ``2 (K and V) x kv_heads x head_dim``
  elements per layer (transformers' ``DynamicLayer`` / ``StaticLayer`` keep one K and one V tensor
  of shape ``[batch, kv_heads, tokens, head_dim]``; vLLM's ``AttentionSpec.page_size_bytes`` in
  ``vllm/v1/kv_cache_interface.py`` is ``coef * block_size * num_kv_heads * head_size * dtype_size``
  with ``coef = 2``);
- multi-head latent attention (DeepSeek-V2/V3, ``kv_lora_rank``): ONE latent vector of
  ``kv_lora_rank + qk_rope_head_dim`` elements per layer, no x2 (the same vLLM formula with
  ``coef = 1`` "for MLA we only store a single latent vector", ``num_kv_heads = 1``, ``head_size =
  kv_lora_rank + qk_rope_head_dim``); the uncompressed figure (what plain MHA would store) is
  reported beside it;
- sliding-window layers hold at most ``sliding_window`` tokens (vLLM's ``SlidingWindowSpec``,
  transformers' ``SlidingWindowLayer``): their part is capped at the window for longer contexts;
- layers without attention (Mamba, linear attention, short convolutions) hold no KV cache (their
  fixed-size recurrent state does not grow with the context and is not counted here).

Figures are elements; bytes = elements x the cache dtype's width (2 for bf16). A layout this module
cannot read exactly gets ``None`` figures and a ``reason``: never a guess presented as exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KV_DTYPE_BYTES: dict[str, float] = {"bf16": 2, "f16": 2, "fp8": 1, "f32": 4}
"""Bytes per cached element for the `--kv-dtype` choices."""

NESTED_TEXT_KEYS = ("text_config", "llm_config", "language_config")
"""Where multimodal configs keep their language model (Gemma-3, Llava, Mistral-3: `text_config`)."""

LIBRARY_DEFAULTS: dict[str, dict[str, Any]] = {
    # transformers' Gemma3TextConfig defaults: real gemma-3 multimodal configs (google/gemma-3-4b-it)
    # state only hidden_size, num_hidden_layers and sliding_window in their text_config.
    "gemma3_text": {"num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "sliding_window_pattern": 6, "sliding_window": 4096, "max_position_embeddings": 131072},
    # transformers' LlamaConfig defaults (llava-hf/llava-1.5-7b-hf's text_config names no layer counts).
    "llama": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
              "max_position_embeddings": 2048},
}  # fmt: skip
"""Defaults of the library config class, applied only to keys the config leaves out (flagged)."""

ALL_LAYERS_SLIDE = frozenset({"mistral", "mixtral", "starcoder2", "phi3", "phimoe"})
"""Model types whose `sliding_window` (when set) applies to every layer (transformers' modeling code)."""

ATTENTION_FREE = frozenset({"mamba", "mamba2", "rwkv", "rwkv5", "rwkv6", "rwkv7", "xlstm"})
FULL_TYPES = frozenset({"full_attention", "attention", "global_attention", "global", "full"})
SLIDING_TYPES = frozenset(
    {"sliding_attention", "sliding_window_attention", "local_attention", "local", "sliding"}
)
NO_KV_TYPES = frozenset({"mamba", "mamba2", "linear_attention", "conv", "ssm", "recurrent", "rwkv",
                         "linear", "short_conv", "mlp", "moe"})  # fmt: skip


@dataclass
class KvLayout:
    """What the config says about the KV cache of one model (elements per token, one sequence)."""

    rule: str | None = None
    """The rule applied, e.g. 'llama-style', 'falcon', 'mla', 'gpt2-style+gemma3-pattern'."""
    attention: str | None = None
    """mha | gqa | mqa | mla | hybrid (some layers hold no KV) | none (attention-free)."""
    model_type: str | None = None
    layers: int | None = None
    attention_layers: int | None = None
    """Layers that hold a KV cache."""
    full_layers: int | None = None
    sliding_layers: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    sliding_window: int | None = None
    """The window that binds (None when no layer slides, or the window is null or >= max context)."""
    max_context: int | None = None
    full_elements: int | None = None
    """Cached elements per token over the full-attention layers."""
    sliding_elements: int | None = None
    """Cached elements per token over the sliding-window layers (capped at `sliding_window` tokens)."""
    uncompressed_elements: int | None = None
    """MLA only: what multi-head attention with the same heads would cache per token."""
    reason: str | None = None
    flags: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    """The config fields the rule read (name -> value), for the record."""

    @property
    def known(self) -> bool:
        return self.full_elements is not None and self.sliding_elements is not None

    def bytes_per_token(self, dtype_bytes: float = 2) -> int | None:
        """Bytes per token while the context is within the window (every layer counted)."""
        if not self.known:
            return None
        return int((self.full_elements + self.sliding_elements) * dtype_bytes)

    def kv_bytes(self, context: int, *, batch: int = 1, dtype_bytes: float = 2) -> int | None:
        """Bytes for `batch` sequences of `context` tokens, sliding layers capped at the window."""
        if not self.known:
            return None
        window = context if self.sliding_window is None else min(context, self.sliding_window)
        return int((self.full_elements * context + self.sliding_elements * window) * dtype_bytes * batch)


def _int(value: Any) -> int | None:
    """A positive int (JSON ints only; bools and floats with fractions are not sizes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def text_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The language model's config: a nested text config over the top level, plus flags."""
    flags: list[str] = []
    for key in NESTED_TEXT_KEYS:
        nested = config.get(key)
        if isinstance(nested, Mapping):
            merged = {k: v for k, v in config.items() if k not in NESTED_TEXT_KEYS and k != "vision_config"}
            merged.update(nested)
            flags.append(f"nested:{key}")
            return merged, flags
    return dict(config), flags


class _Reader:
    """Reads keys with fallbacks and remembers which ones it used."""

    def __init__(self, cfg: Mapping[str, Any], defaults: Mapping[str, Any], flags: list[str]) -> None:
        self.cfg, self.defaults, self.flags = cfg, defaults, flags
        self.used: dict[str, Any] = {}

    def get(self, *keys: str) -> Any:
        for key in keys:
            if self.cfg.get(key) is not None:
                self.used[key] = self.cfg[key]
                return self.cfg[key]
        for key in keys:
            if key in self.defaults:
                self.used[key] = self.defaults[key]
                self.flags.append(f"library_default:{key}={self.defaults[key]}")
                return self.defaults[key]
        return None

    def int(self, *keys: str) -> int | None:
        return _int(self.get(*keys))


def analyze_config(config: Mapping[str, Any]) -> KvLayout:
    """The KV layout of a config.json dict (never raises on odd input: `reason` says what is missing)."""
    if not isinstance(config, Mapping):
        return KvLayout(reason="config.json is not a JSON object")
    cfg, flags = text_config(config)
    model_type = cfg.get("model_type") if isinstance(cfg.get("model_type"), str) else None
    out = KvLayout(model_type=model_type, flags=flags)
    r = _Reader(cfg, LIBRARY_DEFAULTS.get(model_type or "", {}), out.flags)
    arch = " ".join(a for a in (config.get("architectures") or []) if isinstance(a, str))
    out.layers = r.int("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    out.max_context = r.int("max_position_embeddings", "n_positions", "seq_length", "max_seq_len",
                            "max_sequence_length", "model_max_length")  # fmt: skip
    if model_type in ATTENTION_FREE or (
        arch and (("Mamba" in arch and "Hybrid" not in arch) or "Rwkv" in arch)
    ):
        return _finish(out, r, rule="attention-free", attention="none", kinds=["none"] * (out.layers or 0))
    if out.layers is None:
        return _fail(out, r, "no layer count (num_hidden_layers / n_layer)")
    out.heads = r.int("num_attention_heads", "n_head", "num_heads", "n_heads")
    rule = _style(r)
    if _int(cfg.get("kv_lora_rank")):
        return _mla(out, r)
    if out.heads is None:
        return _fail(out, r, "no attention head count (num_attention_heads / n_head)")
    out.head_dim = _head_dim(r, out.heads)
    if out.head_dim is None:
        return _fail(out, r, "no head_dim, kv_channels, or hidden size divisible by the heads")
    kv, family = _kv_heads(r, cfg, model_type, arch, out.heads)
    if kv is None:
        return _fail(out, r, "KV head count not readable")
    out.kv_heads = kv
    if cfg.get("attention_chunk_size") and not isinstance(cfg.get("layer_types"), list):
        return _fail(out, r, "chunked local attention (Llama-4 attention_chunk_size) is not covered")
    kinds, layer_rule = _layer_kinds(r, cfg, model_type, out)
    if isinstance(kinds, str):
        return _fail(out, r, kinds)
    shared = r.int("num_kv_shared_layers")
    if shared and shared < len(kinds):  # Gemma-3n: the last layers reuse earlier layers' cache
        kinds[len(kinds) - shared :] = ["shared"] * shared
        out.flags.append(f"kv_shared_layers:{shared}")
        out.sliding_window = out.sliding_window if "sliding" in kinds else None
    rule = "+".join(part for part in (family or rule, layer_rule) if part)
    per_layer = 2 * out.kv_heads * out.head_dim
    attention = "mqa" if kv == 1 else "mha" if kv == out.heads else "gqa"
    if "none" in kinds:
        attention = "hybrid"
    return _finish(out, r, rule=rule, attention=attention, kinds=kinds, per_layer=per_layer)


def _style(r: _Reader) -> str:
    """Which naming the config uses: GPT-2 style (n_layer, n_head, n_embd) or Llama style."""
    gpt2_keys = ("n_layer", "n_head", "n_layers", "n_heads", "n_embd", "d_model")
    return "gpt2-style" if any(key in r.used for key in gpt2_keys) else "llama-style"


def _head_dim(r: _Reader, heads: int) -> int | None:
    """`head_dim` when present (not always hidden/heads), else `kv_channels`, else hidden / heads."""
    explicit = r.int("head_dim")
    if explicit:
        return explicit
    channels = r.int("kv_channels")
    if channels:
        return channels
    hidden = r.int("hidden_size", "n_embd", "n_embed", "d_model")
    if hidden and hidden % heads == 0:
        return hidden // heads
    return None


def _kv_heads(r: _Reader, cfg: Mapping[str, Any], model_type: str | None, arch: str, heads: int
              ) -> tuple[int | None, str | None]:  # fmt: skip
    """(KV heads, family rule name when a family-specific key decided it)."""
    falcon_classes = ("FalconForCausalLM", "RWForCausalLM", "RWModel")
    if model_type in ("falcon", "RefinedWeb", "RefinedWebModel") or any(
        a in arch.split() for a in falcon_classes
    ):
        # transformers FalconConfig: new_decoder_architecture -> num_kv_heads; else multi_query -> 1; else heads
        if cfg.get("new_decoder_architecture") or model_type == "RefinedWeb":
            r.get("new_decoder_architecture")
            return r.int("num_kv_heads", "n_head_kv"), "falcon"
        if r.get("multi_query"):
            return 1, "falcon"
        return heads, "falcon"
    kv = r.int("num_key_value_heads")
    if kv:
        return kv, ("qwen-v1" if model_type == "qwen" else None)
    if cfg.get("multi_query_attention"):  # ChatGLM2/3, GLM-4 (remote code)
        r.get("multi_query_attention")
        return r.int("multi_query_group_num"), "chatglm"
    kv = r.int("num_kv_heads", "n_head_kv")
    if kv:
        return kv, None
    if cfg.get("multi_query") is True:  # GPTBigCode / StarCoder
        r.get("multi_query")
        return 1, "gpt-bigcode"
    attn = cfg.get("attn_config")  # MPT (attn_type + kv_n_heads), DBRX (kv_n_heads)
    if isinstance(attn, Mapping) and (attn.get("attn_type") in ("grouped_query_attention", "multiquery_attention")
                                      or _int(attn.get("kv_n_heads"))):  # fmt: skip
        r.used["attn_config"] = attn
        kv = 1 if attn.get("attn_type") == "multiquery_attention" else _int(attn.get("kv_n_heads"))
        return kv, ("dbrx" if model_type == "dbrx" else "mpt")
    return heads, ("qwen-v1" if model_type == "qwen" else None)


def _window(r: _Reader, out: KvLayout) -> int | None:
    """The sliding window if it can bind: a positive int smaller than the max context."""
    raw = r.get("sliding_window")
    window = _int(raw)
    if raw is not None and window is None:
        out.flags.append(f"sliding_window_unreadable:{raw!r}"[:80])
    if window is not None and out.max_context is not None and window >= out.max_context:
        out.flags.append("sliding_window_never_binds")
        return None
    return window


def _layer_kinds(r: _Reader, cfg: Mapping[str, Any], model_type: str | None, out: KvLayout
                 ) -> tuple[list[str] | str, str | None]:  # fmt: skip
    """Per layer 'full' | 'sliding' | 'none', and the layer rule's name (an error string when unreadable)."""
    n = out.layers or 0
    types = cfg.get("layer_types")
    if isinstance(types, list):
        r.get("layer_types")
        if len(types) != n:
            return f"layer_types has {len(types)} entries for {n} layers", None
        window = _window(r, out)
        kinds = []
        for t in types:
            name = str(t).lower()
            if name in FULL_TYPES:
                kinds.append("full")
            elif name in SLIDING_TYPES:
                kinds.append("sliding" if window else "full")
            elif name in NO_KV_TYPES:
                kinds.append("none")
            elif name == "chunked_attention":
                return "chunked attention layers (Llama-4) are not covered", None
            else:
                return f"unknown layer type {str(t)[:40]!r}", None
        out.sliding_window = window if "sliding" in kinds else None
        return kinds, "layer-types"
    blocks = cfg.get("layers_block_type")
    if isinstance(blocks, list):
        r.get("layers_block_type")
        if len(blocks) != n:
            return f"layers_block_type has {len(blocks)} entries for {n} layers", None
        return ["full" if str(b).lower() == "attention" else "none" for b in blocks], "layers-block-type"
    pattern = cfg.get("hybrid_override_pattern")
    if isinstance(pattern, str):
        r.get("hybrid_override_pattern")
        if len(pattern) != n:
            return f"hybrid_override_pattern has {len(pattern)} entries for {n} layers", None
        return ["full" if c == "*" else "none" for c in pattern], "nemotron-h-pattern"
    period = _int(cfg.get("attn_layer_period"))
    if period:
        offset = r.int("attn_layer_offset") or 0
        r.get("attn_layer_period")
        return ["full" if i % period == offset else "none" for i in range(n)], "jamba-period"
    return _sliding_kinds(r, cfg, model_type, out)


def _sliding_kinds(r: _Reader, cfg: Mapping[str, Any], model_type: str | None, out: KvLayout
                   ) -> tuple[list[str], str | None]:  # fmt: skip
    """Sliding-window layers named by a pattern, Gemma-2's alternation, Qwen's switch or the family."""
    n = out.layers or 0
    pattern = r.int("sliding_window_pattern")
    if pattern:  # Gemma-3, Cohere2: every pattern-th layer is global ((i + 1) % pattern == 0)
        window = _window(r, out)
        out.sliding_window = window
        return [
            "full" if (i + 1) % pattern == 0 or not window else "sliding" for i in range(n)
        ], "sliding-pattern"
    if model_type == "gemma2":  # transformers Gemma2: layer_idx % 2 == 0 slides
        window = _window(r, out)
        out.sliding_window = window
        return ["sliding" if i % 2 == 0 and window else "full" for i in range(n)], "gemma2-alternation"
    if "use_sliding_window" in cfg:  # Qwen2/2.5/3: layers from max_window_layers on slide, when switched on
        if not r.get("use_sliding_window"):
            return ["full"] * n, None
        first = r.int("max_window_layers")
        first = 0 if first is None else first
        window = _window(r, out)
        out.sliding_window = window if window and first < n else None
        return ["sliding" if i >= first and window else "full" for i in range(n)], "qwen-max-window-layers"
    if cfg.get("sliding_window") is not None:
        if model_type in ALL_LAYERS_SLIDE:
            window = _window(r, out)
            out.sliding_window = window
            return ["sliding" if window else "full"] * n, ("sliding-all-layers" if window else None)
        out.flags.append(f"sliding_window_not_applied:{model_type}")
    return ["full"] * n, None


def _mla(out: KvLayout, r: _Reader) -> KvLayout:
    """DeepSeek-V2/V3 latent attention: kv_lora_rank + qk_rope_head_dim per layer per token, no x2."""
    out.kv_lora_rank = r.int("kv_lora_rank")
    out.qk_rope_head_dim = r.int("qk_rope_head_dim")
    if out.qk_rope_head_dim is None:
        return _fail(out, r, "MLA config without qk_rope_head_dim")
    out.kv_heads = 1
    out.head_dim = out.kv_lora_rank + out.qk_rope_head_dim
    nope, v_dim = r.int("qk_nope_head_dim"), r.int("v_head_dim")
    if out.heads and nope and v_dim:
        out.uncompressed_elements = out.layers * out.heads * (nope + out.qk_rope_head_dim + v_dim)
    return _finish(out, r, rule="mla", attention="mla", kinds=["full"] * out.layers, per_layer=out.head_dim)


def _finish(out: KvLayout, r: _Reader, *, rule: str, attention: str, kinds: list[str], per_layer: int = 0
            ) -> KvLayout:  # fmt: skip
    out.rule, out.attention = rule, attention
    out.full_layers = kinds.count("full")
    out.sliding_layers = kinds.count("sliding")
    out.attention_layers = out.full_layers + out.sliding_layers
    out.full_elements = out.full_layers * per_layer
    out.sliding_elements = out.sliding_layers * per_layer
    if not out.sliding_layers:
        out.sliding_window = None
    if out.max_context is None:
        out.flags.append("no_context_limit_in_config")
    out.fields = dict(r.used)
    return out


def _fail(out: KvLayout, r: _Reader, reason: str) -> KvLayout:
    out.reason = reason
    out.fields = dict(r.used)
    return out


def longest_context(
    layout: KvLayout, budget_bytes: int, *, dtype_bytes: float = 2, batch: int = 1
) -> int | None:
    """The most tokens whose KV cache fits in `budget_bytes` (capped at the max context when known)."""
    if not layout.known or budget_bytes < 0:
        return None if not layout.known else 0
    full = layout.full_elements * dtype_bytes * batch
    slide = layout.sliding_elements * dtype_bytes * batch
    window = layout.sliding_window
    cap = layout.max_context
    if full + slide == 0:
        return cap
    if window is None or slide == 0 or (full + slide) * window > budget_bytes:
        tokens = int(budget_bytes // (full + slide))
    elif full == 0:
        return cap
    else:
        tokens = int((budget_bytes - slide * window) // full)
    return tokens if cap is None else min(tokens, cap)
