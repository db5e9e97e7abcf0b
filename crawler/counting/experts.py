"""Active parameters per token of mixture-of-experts models (pure: tensor names, counts and config in).

The rule (`CONVENTION`): a token passes through every non-expert tensor (embeddings, attention,
norms, router, dense layers, lm_head), `top_k / n_experts` of the routed expert tensors and all
shared experts. Multi-token-prediction layers (DeepSeek's MTP: layer index >= `num_hidden_layers`)
are left out of the active figure. Quantized tensors count unpacked (their effective parameters,
`quant.classify`). Tied embeddings are one tensor, counted once.

Experts are found from tensor names (`experts.N.`, stacked `experts.gate_up_proj`, Granite's
`block_sparse_moe.input_linear`, GGUF `ffn_*_exps`; shared: `shared_expert(s).`, GGUF `*_shexp`)
and cross-checked with the config (`MoeConfig`). A model without expert tensors is dense: active =
effective. Where the rule cannot tell, `active` is None and `reason` says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONVENTION = "embeddings and lm_head included; routed experts top_k/n_experts; shared experts included; MTP layers excluded"

_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|blk|block|decoder\.layers)\.(\d+)\.")
_NUMBERED = re.compile(r"(?:^|\.)(?:experts|local_experts)\.(\d+)\.")
_STACKED = re.compile(
    r"(?:^|\.)(?:experts|local_experts)\.(?!\d)|(?:^|\.)block_sparse_moe\.(?:input_linear|output_linear)\."
    r"|(?:^|\.)ffn_(?:gate|up|down|gate_up)_exps\."
)
_SHARED = re.compile(r"(?:^|\.)shared_experts?\.|(?:^|\.)ffn_(?:gate|up|down)_shexp\.")
_EMBED = re.compile(r"(?:^|\.)(?:embed_tokens|wte|tok_embeddings|word_embeddings|token_embd)\.")

_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
_TOP_K_KEYS = ("num_experts_per_tok", "moe_top_k", "experts_per_token", "num_selected_experts")
_SHARED_KEYS = ("n_shared_experts", "num_shared_experts")
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
MOE_KEYS = (
    *_EXPERT_KEYS, *_TOP_K_KEYS, *_SHARED_KEYS, *_LAYER_KEYS, "first_k_dense_replace", "decoder_sparse_step",
    "mlp_only_layers", "moe_layer_freq", "num_nextn_predict_layers", "shared_expert_intermediate_size",
)  # fmt: skip
"""The config keys the rule reads (what `moe_fields` keeps of a config.json)."""
_NESTED = ("text_config", "llm_config", "language_config", "ffn_config")


@dataclass(frozen=True)
class MoeConfig:
    """What a config says of its experts (every field optional)."""

    experts: int | None = None
    top_k: int | None = None
    shared: int | None = None
    layers: int | None = None
    first_k_dense: int = 0
    sparse_step: int = 1
    mlp_only_layers: tuple[int, ...] = ()

    def moe_layers(self) -> set[int] | None:
        """Layers the config makes sparse (None without `layers`)."""
        if self.layers is None:
            return None
        step = max(self.sparse_step, 1)
        return {
            i for i in range(self.layers)
            if i >= self.first_k_dense and (i + 1) % step == 0 and i not in self.mlp_only_layers
        }  # fmt: skip


def moe_fields(config: Any) -> dict[str, Any]:
    """The MoE keys of a config.json (nested text configs flattened over the top level): small, storable."""
    if not isinstance(config, Mapping):
        return {}
    out = {k: config[k] for k in MOE_KEYS if k in config}
    for key in _NESTED:
        nested = config.get(key)
        if isinstance(nested, Mapping):
            out.update({k: nested[k] for k in MOE_KEYS if k in nested})
    return out


def read_moe_config(config: Any) -> MoeConfig:
    """A `MoeConfig` from a config.json or from `moe_fields` of one."""
    f = moe_fields(config)
    shared = _first(f, _SHARED_KEYS)
    if shared is None and _int(f.get("shared_expert_intermediate_size")):
        shared = 1  # Qwen2-MoE: one shared expert of that width
    mlp_only = f.get("mlp_only_layers")
    return MoeConfig(
        experts=_first(f, _EXPERT_KEYS), top_k=_first(f, _TOP_K_KEYS), shared=shared,
        layers=_first(f, _LAYER_KEYS), first_k_dense=_int(f.get("first_k_dense_replace")) or 0,
        sparse_step=_int(f.get("decoder_sparse_step")) or _int(f.get("moe_layer_freq")) or 1,
        mlp_only_layers=tuple(i for i in mlp_only if type(i) is int) if isinstance(mlp_only, list) else (),
    )  # fmt: skip


@dataclass
class ExpertTally:
    """Effective parameters by layer and kind (routed / shared / embedding / other), from tensor names."""

    parts: dict[tuple[int, str], int] = field(default_factory=dict)
    """(layer or -1, kind) -> effective parameters."""
    numbered: dict[int, int] = field(default_factory=dict)
    """layer -> experts seen as `experts.N.` (highest N + 1)."""
    stacked: dict[int, set[int]] = field(default_factory=dict)
    """layer -> leading dims of stacked (3-D or more) expert tensors."""

    def add(self, name: str, shape: tuple[int, ...], effective: int) -> None:
        """Account one parameter tensor (`effective`: its unpacked count)."""
        m = _LAYER.search(name)
        layer = int(m.group(1)) if m else -1
        numbered = _NUMBERED.search(name)
        if numbered:
            kind = "routed"
            self.numbered[layer] = max(self.numbered.get(layer, 0), int(numbered.group(1)) + 1)
        elif _STACKED.search(name):
            kind = "routed"
            if len(shape) >= 3:
                lead = shape[-1] if name.startswith("blk.") else shape[0]  # GGUF lists dims innermost first
                self.stacked.setdefault(layer, set()).add(lead)
        elif _SHARED.search(name):
            kind = "shared"
        elif _EMBED.search(name):
            kind = "embedding"
        else:
            kind = "other"
        self.parts[(layer, kind)] = self.parts.get((layer, kind), 0) + effective

    def merge(self, other: ExpertTally) -> None:
        """Add another tally (shards, components)."""
        for key, n in other.parts.items():
            self.parts[key] = self.parts.get(key, 0) + n
        for layer, n in other.numbered.items():
            self.numbered[layer] = max(self.numbered.get(layer, 0), n)
        for layer, dims in other.stacked.items():
            self.stacked.setdefault(layer, set()).update(dims)

    def expert_layers(self) -> set[int]:
        return {layer for (layer, kind), n in self.parts.items() if kind == "routed" and n}

    def named_experts(self) -> set[int]:
        """Expert counts the names and stacked shapes show (one value when consistent)."""
        return set(self.numbered.values()) | {d for dims in self.stacked.values() for d in dims}


@dataclass(frozen=True)
class Active:
    """Active parameters per token and the expert layout behind them."""

    active: int | None
    total: int
    expert_params: int = 0
    """Effective parameters of the routed expert tensors (MTP layers excluded)."""
    shared_params: int = 0
    embedding_params: int = 0
    mtp_params: int = 0
    expert_count: int | None = None
    experts_per_token: int | None = None
    shared_experts: int | None = None
    reason: str | None = None
    flags: tuple[str, ...] = ()
    convention: str = CONVENTION

    @property
    def is_moe(self) -> bool:
        return bool(self.expert_count and self.expert_count > 1)

    @property
    def layout(self) -> str | None:
        """'2 of 8 experts' (+ ' + 1 shared'), None for a dense model."""
        if not self.is_moe or not self.experts_per_token:
            return None
        shared = f" + {self.shared_experts} shared" if self.shared_experts else ""
        return f"{self.experts_per_token} of {self.expert_count} experts{shared}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "active_parameters": self.active, "total_parameters": self.total, "expert_params": self.expert_params,
            "shared_expert_params": self.shared_params, "embedding_params": self.embedding_params,
            "mtp_params": self.mtp_params, "expert_count": self.expert_count,
            "experts_per_token": self.experts_per_token, "shared_experts": self.shared_experts,
            "layout": self.layout, "reason": self.reason, "flags": list(self.flags), "convention": self.convention,
        }  # fmt: skip


def tally(tensors: Iterable[tuple[str, tuple[int, ...], int]]) -> ExpertTally:
    """An `ExpertTally` of (name, shape, effective parameters) triples."""
    out = ExpertTally()
    for name, shape, effective in tensors:
        out.add(name, shape, effective)
    return out


def active_parameters(t: ExpertTally, config: Any = None) -> Active:
    """Apply the rule to a tally; `config`: a config.json, its `moe_fields`, or a `MoeConfig`."""
    moe = config if isinstance(config, MoeConfig) else read_moe_config(config)
    mtp_from = moe.layers if moe.layers else None
    kinds: dict[str, int] = {}
    mtp = 0
    for (layer, kind), n in t.parts.items():
        if mtp_from is not None and layer >= mtp_from:
            mtp += n
        else:
            kinds[kind] = kinds.get(kind, 0) + n
    total = sum(t.parts.values())
    routed, shared, embed = kinds.get("routed", 0), kinds.get("shared", 0), kinds.get("embedding", 0)
    base = {"total": total, "expert_params": routed, "shared_params": shared, "embedding_params": embed,
            "mtp_params": mtp}  # fmt: skip
    if not routed:
        if moe.experts and moe.experts > 1:
            return Active(None, **base, expert_count=moe.experts, experts_per_token=moe.top_k,
                          reason=f"config says {moe.experts} experts but no tensor name shows an expert")  # fmt: skip
        return Active(total, **base, expert_count=0 if total else None)  # dense: active = effective
    named = t.named_experts()
    if len(named) > 1:
        return Active(None, **base, reason=f"tensor names show differing expert counts {sorted(named)}")
    from_names = next(iter(named), None)
    if moe.experts and from_names and moe.experts != from_names:
        return Active(None, **base, expert_count=moe.experts, experts_per_token=moe.top_k,
                      reason=f"config says {moe.experts} experts, tensor names show {from_names}")  # fmt: skip
    n = moe.experts or from_names
    if not moe.top_k:
        return Active(None, **base, expert_count=n, reason="experts in tensor names but no top_k in the config")
    if not n:
        return Active(None, **base, experts_per_token=moe.top_k, reason="expert count unknown (config and names)")
    if moe.top_k > n:
        return Active(None, **base, expert_count=n, experts_per_token=moe.top_k,
                      reason=f"config top_k {moe.top_k} exceeds its {n} experts")  # fmt: skip
    flags = []
    expected = moe.moe_layers()
    seen = {layer for layer in t.expert_layers() if mtp_from is None or layer < mtp_from}
    if expected is not None and seen != expected:
        flags.append(f"moe_layers_mismatch: config makes {len(expected)} layers sparse, names show {len(seen)}")
    shared_n = moe.shared if moe.shared is not None else (1 if shared else 0)
    if mtp:
        flags.append(f"mtp_excluded: {mtp} parameters in layers >= {mtp_from}")
    active = total - mtp - routed + routed * moe.top_k // n
    return Active(active, **base, expert_count=n, experts_per_token=moe.top_k, shared_experts=shared_n,
                  flags=tuple(flags))  # fmt: skip


def active_columns(a: Active) -> dict[str, Any]:
    """The `models` columns of an `Active` (what the header pass stores)."""
    return {
        "active_params": a.active if a.total else None, "expert_count": a.expert_count, "experts_per_token": a.experts_per_token,
        "shared_experts": a.shared_experts, "expert_params": a.expert_params if a.is_moe else None,
        "active_reason": a.reason,
    }  # fmt: skip


def _first(fields: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = _int(fields.get(key))
        if value is not None:
            return value
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None
