"""Per-model and per-component weight accounting from parsed headers (pure).

`analyze(files, config, gguf)` gives storage counts per dtype (what the Hub shows),
effective (unpacked) parameters, weight and overhead bytes, bits per parameter,
the quantization method with its evidence, and a per-role dtype profile.
`reconcile(...)` compares those with the Hub's figures and the index metadata.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubcensus.crawler.counting.experts import ExpertTally
from hubcensus.crawler.counting.quant import (
    QuantConfig,
    Shape,
    TensorClass,
    classify,
    decide_method,
    format_bits,
    read_config,
)
from hubcensus.crawler.files.weightfiles import component_of
from hubcensus.crawler.formats.safetensors import FileHeader

from hubcensus.dtypes import memory_bytes

MAX_EVIDENCE = 12

_NORM = re.compile(r"(^|\.)(\w*norm\w*|ln_\w+|ln\d*)(\.|$)", re.IGNORECASE)
_EXPERTS = re.compile(r"(^|\.)(experts|local_experts)(\.|$)")
_ROUTER = re.compile(r"(^|\.)(router|gate)(\.|$)")
_LM_HEAD = re.compile(r"^(model\.)?(lm_head|embed_out|output)(\.|$)|(^|\.)lm_head(\.|$)|cls\.predictions\.")
_EMBED = re.compile(
    r"(^|\.)(embed_tokens|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|tok_embeddings"
    r"|embed_positions|embeddings|embedding|shared|position_ids|token_embedding)(\.|$)"
)
_ATTENTION = re.compile(
    r"(^|\.)(\w*attn\w*|\w*attention\w*|q_proj|k_proj|v_proj|o_proj|qkv\w*|query|key|value|to_q|to_k|to_v"
    r"|to_out|add_[qkv]_proj|to_add_out|wq|wk|wv|wo|out_proj|in_proj\w*)(\.|$)"
)
_MLP = re.compile(
    r"(^|\.)(mlp|feed_forward|ffn|ff|ff_context|fc\d|gate_proj|up_proj|down_proj|gate_up_proj|c_fc|c_proj"
    r"|intermediate|w[123]|dense_h_to_4h|dense_4h_to_h|shared_experts?|proj_mlp)(\.|$)|\.output\.dense\."
)


def tensor_role(name: str, ndim: int) -> str:
    """Role of a tensor (what it does in the network) from its full name; 1-D normalisation parameters are `norm`."""
    if ndim <= 1 and _NORM.search(name):
        return "norm"
    for role, pattern in (
        ("experts", _EXPERTS),
        ("router", _ROUTER),
        ("lm_head", _LM_HEAD),
        ("embedding", _EMBED),
        ("attention", _ATTENTION),
        ("mlp", _MLP),
    ):
        if pattern.search(name):
            return role
    return "other"


@dataclass
class ComponentWeights:
    """Accounting for one component (diffusers folder such as `transformer`; "" for root files)."""

    name: str = ""
    files: int = 0
    tensor_count: int = 0
    file_bytes: int | None = 0
    """Sum of the file sizes the Hub stated; None when any file's size was not stated."""
    storage_parameters: dict[str, int] = field(default_factory=dict)
    storage_bytes: dict[str, int] = field(default_factory=dict)
    effective_parameters: int = 0
    weight_bytes: int = 0
    overhead_bytes: int = 0
    method: str = "none"
    method_detail: str | None = None
    bits: int | None = None
    methods: dict[str, int] = field(default_factory=dict)  # method -> effective parameters
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_dtypes: list[str] = field(default_factory=list)

    @property
    def storage_total(self) -> int:
        """Stored elements of all tensors: the Hub's `safetensors.total`."""
        return sum(self.storage_parameters.values())

    @property
    def bits_per_parameter(self) -> float | None:
        """weight_bytes * 8 / effective parameters (overhead included), None without parameters."""
        return self.weight_bytes * 8 / self.effective_parameters if self.effective_parameters else None

    @property
    def dominant_dtype(self) -> str | None:
        """Storage dtype holding the most bytes (ties: alphabetical)."""
        if not self.storage_bytes:
            return None
        return max(sorted(self.storage_bytes), key=lambda d: self.storage_bytes[d])

    @property
    def memory(self) -> dict[str, int]:
        """Bytes to hold the weights as stored and cast to bf16 / fp8 / 4-bit."""
        return memory_bytes(self.weight_bytes, self.effective_parameters)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view, derived figures included."""
        bpp = self.bits_per_parameter
        return {
            "name": self.name,
            "files": self.files,
            "tensor_count": self.tensor_count,
            "file_bytes": self.file_bytes,
            "storage_parameters": dict(sorted(self.storage_parameters.items())),
            "storage_bytes": dict(sorted(self.storage_bytes.items())),
            "storage_total": self.storage_total,
            "effective_parameters": self.effective_parameters,
            "weight_bytes": self.weight_bytes,
            "overhead_bytes": self.overhead_bytes,
            "bits_per_parameter": None if bpp is None else round(bpp, 4),
            "dominant_dtype": self.dominant_dtype,
            "dominant_dtype_basis": "bytes",
            "method": self.method,
            "method_detail": self.method_detail,
            "bits": self.bits,
            "methods": dict(sorted(self.methods.items())),
            "roles": {r: self.roles[r] for r in sorted(self.roles)},
            "unknown_dtypes": list(self.unknown_dtypes),
            "memory": self.memory,
        }


@dataclass
class ModelWeights(ComponentWeights):
    """A whole model: the component fields summed, plus components, flags and evidence."""

    source: str = "safetensors"  # safetensors | gguf | config | none
    components: dict[str, ComponentWeights] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    experts: ExpertTally = field(default_factory=ExpertTally)
    """Effective parameters by layer and expert kind (`counting.experts`: active parameters)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view with components nested by name."""
        out = super().to_dict()
        out.pop("name")
        out["source"] = self.source
        out["components"] = {k: self.components[k].to_dict() for k in sorted(self.components)}
        out["flags"] = list(self.flags)
        out["evidence"] = list(self.evidence)
        return out


def analyze(
    files: Iterable[FileHeader],
    config: Mapping[str, Any] | None = None,
    gguf: Mapping[str, Any] | None = None,
    *,
    hub: Mapping[str, Any] | None = None,
    index_metadata: Mapping[str, Any] | None = None,
) -> ModelWeights:
    """Account for a model's weights; `hub`/`index_metadata` add `reconcile` flags."""
    qc = read_config(config)
    headers = list(files)
    comps: dict[str, ComponentWeights] = {}
    shapes: dict[str, dict[str, Shape]] = {}
    duplicates = 0
    for h in headers:
        name = component_of(h.path)
        c = comps.setdefault(name, ComponentWeights(name))
        c.files += 1
        c.tensor_count += len(h.tensors)
        c.file_bytes = None if c.file_bytes is None or h.file_size is None else c.file_bytes + h.file_size
        for dtype, (elems, nbytes) in h.dtype_totals().items():
            c.storage_parameters[dtype] = c.storage_parameters.get(dtype, 0) + elems
            c.storage_bytes[dtype] = c.storage_bytes.get(dtype, 0) + nbytes
        c.weight_bytes += sum(h.tensors.nbytes)
        c.unknown_dtypes = sorted(set(c.unknown_dtypes) | set(h.unknown_dtypes))
        table = shapes.setdefault(name, {})
        before = len(table)
        for t in h.tensors:
            table[t.name] = Shape(t.dtype, t.shape)
        duplicates += before + len(h.tensors) - len(table)
    evidence: Counter[str] = Counter()
    model = ModelWeights(
        source="safetensors" if headers else "gguf" if gguf else "config" if qc.method else "none"
    )
    for name, c in comps.items():
        verdicts = classify(shapes[name], qc)
        _account(c, shapes[name], verdicts, headers, name, evidence)
        for tensor, v in verdicts.items():
            if not v.overhead:
                model.experts.add(tensor, shapes[name][tensor].shape, v.effective)
        c.method, c.method_detail, _ = decide_method(
            c.methods, qc, has_tensors=bool(c.tensor_count), gguf=None
        )
        c.bits = _bits(c.method, qc, verdicts)
    _sum_into(model, comps.values())
    model.components = comps
    model.method, model.method_detail, model.flags = decide_method(
        model.methods, qc, has_tensors=bool(model.tensor_count), gguf=gguf
    )
    quantized = [c for c in comps.values() if c.method != "none"]
    if quantized:
        model.bits = max(quantized, key=lambda c: c.effective_parameters).bits
    elif model.method not in ("none", "unknown", "gguf"):
        model.bits = qc.bits
    if quantized and qc.bits and model.bits and model.bits != qc.bits and model.method == qc.method:
        model.flags.append(
            f"config_bits_mismatch: config says bits={qc.bits}, tensor shapes say {model.bits}"
        )
    if not headers and gguf and isinstance(gguf.get("total"), int):
        model.effective_parameters = gguf["total"]
        evidence[f"gguf total={gguf['total']}"] += 1
    model.evidence = [
        f"{n} {k} tensors" if not k.startswith("gguf") else k for k, n in evidence.most_common(MAX_EVIDENCE)
    ]
    if qc.evidence:
        model.evidence.append(qc.evidence)
    if duplicates:
        model.flags.append(f"duplicate_tensor_names: {duplicates} tensors appear in more than one file")
    for h in headers:
        model.flags += [f"header_warning: {h.path}: {w}" for w in h.warnings]
        if h.file_size is None:
            model.flags.append(f"size-unknown: {h.path}: the Hub stated no size for it")
    if hub is not None or index_metadata is not None:
        model.flags += reconcile(model, hub=hub, index_metadata=index_metadata)
    return model


def _account(
    c: ComponentWeights,
    shapes: Mapping[str, Shape],
    verdicts: Mapping[str, TensorClass],
    headers: list[FileHeader],
    comp: str,
    evidence: Counter[str],
) -> None:
    """Fill effective parameters, overhead, methods and roles of one component."""
    nbytes: dict[str, int] = {}
    for h in headers:
        if component_of(h.path) == comp:
            nbytes.update(zip(h.tensors.names, h.tensors.nbytes, strict=True))
    for name, v in verdicts.items():
        size = nbytes[name]
        owner = shapes.get(v.owner, shapes[name])
        role = tensor_role(v.owner, len(owner.shape))
        r = c.roles.setdefault(role, _new_role())
        st = r["storage"].setdefault(shapes[name].dtype, {"parameters": 0, "bytes": 0})
        st["parameters"] += _numel(shapes[name].shape)
        st["bytes"] += size
        if v.evidence:
            evidence[v.evidence] += 1
        if v.overhead:
            c.overhead_bytes += size
            r["overhead_bytes"] += size
            continue
        c.effective_parameters += v.effective
        c.methods[v.method] = c.methods.get(v.method, 0) + v.effective
        f = r["formats"].setdefault(v.fmt, {"parameters": 0, "bytes": 0})
        f["parameters"] += v.effective
        f["bytes"] += size


def _new_role() -> dict[str, Any]:
    """A role's profile: logical formats (effective parameters, bytes), storage dtypes (elements, bytes)."""
    return {"formats": {}, "storage": {}, "overhead_bytes": 0}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _bits(method: str, qc: QuantConfig, verdicts: Mapping[str, TensorClass]) -> int | None:
    """Weight bit width of the quantized tensors (by effective parameters), else the config's."""
    if method in ("none", "unknown", "gguf"):
        return None
    widths: Counter[int] = Counter()
    for v in verdicts.values():
        bits = None if v.overhead or v.method == "none" else format_bits(v.fmt)
        if bits:
            widths[bits] += v.effective
    return widths.most_common(1)[0][0] if widths else qc.bits


def _sum_into(model: ModelWeights, comps: Iterable[ComponentWeights]) -> None:
    """Model totals are the sums over its components."""
    for c in comps:
        model.files += c.files
        model.tensor_count += c.tensor_count
        model.file_bytes = (
            None if model.file_bytes is None or c.file_bytes is None else model.file_bytes + c.file_bytes
        )
        model.effective_parameters += c.effective_parameters
        model.weight_bytes += c.weight_bytes
        model.overhead_bytes += c.overhead_bytes
        for src, dst in (
            (c.storage_parameters, model.storage_parameters),
            (c.storage_bytes, model.storage_bytes),
            (c.methods, model.methods),
        ):
            for k, v in src.items():
                dst[k] = dst.get(k, 0) + v
        for role, r in c.roles.items():
            m = model.roles.setdefault(role, _new_role())
            m["overhead_bytes"] += r["overhead_bytes"]
            for part in ("formats", "storage"):
                for key, f in r[part].items():
                    g = m[part].setdefault(key, {"parameters": 0, "bytes": 0})
                    g["parameters"] += f["parameters"]
                    g["bytes"] += f["bytes"]
        model.unknown_dtypes = sorted(set(model.unknown_dtypes) | set(c.unknown_dtypes))


def reconcile(
    weights: ComponentWeights,
    *,
    hub: Mapping[str, Any] | None = None,
    index_metadata: Mapping[str, Any] | None = None,
) -> list[str]:
    """Flags where the Hub's counts, our header counts and the index metadata disagree."""
    flags: list[str] = []
    if hub is not None:
        params = hub.get("parameters") or {}
        total = hub.get("total")
        dtype_sum = sum(v for v in params.values() if isinstance(v, int))
        if isinstance(total, int) and total != dtype_sum:
            flags.append(f"hub_total_mismatch: total={total} but per-dtype sum={dtype_sum}")
        if weights.tensor_count and dict(params) != weights.storage_parameters:
            diff = [
                f"{d} hub={params.get(d, 0)} header={weights.storage_parameters.get(d, 0)}"
                for d in sorted(set(params) | set(weights.storage_parameters))
                if params.get(d, 0) != weights.storage_parameters.get(d, 0)
            ]
            flags.append("hub_header_mismatch: " + "; ".join(diff[:4]))
        shown = total if isinstance(total, int) else dtype_sum
        if weights.effective_parameters > shown > 0:
            flags.append(
                f"hub_undercounts_packed: hub={shown} effective={weights.effective_parameters} "
                f"({weights.effective_parameters / shown:.2f}x)"
            )
    if index_metadata is not None:
        size = index_metadata.get("total_size")
        if isinstance(size, int) and weights.tensor_count and size != weights.weight_bytes:
            flags.append(f"index_total_size_mismatch: total_size={size} weight_bytes={weights.weight_bytes}")
        declared = index_metadata.get("total_parameters")
        if isinstance(declared, int) and declared not in (
            weights.storage_total,
            weights.effective_parameters,
        ):
            flags.append(
                f"declared_parameters_mismatch: total_parameters={declared} "
                f"storage={weights.storage_total} effective={weights.effective_parameters}"
            )
    return flags
