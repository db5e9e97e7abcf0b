"""Pure normalization of one `/api/models?expand=...` item into a `models` row.

The row is what `db.listing_store.stage_listing_page` takes: the LISTING_COLUMNS and
ESTIMATE_COLUMNS of `models` plus `hub_parameters` ({dtype: storage elements}).
The weight figures here are estimates from the listing alone
(`weights_source='hub'`); the header pass replaces them with exact ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hubcensus.crawler.files.weightfiles import file_format, weight_format

from hubcensus.dtypes import FLOAT8_DTYPES, storage_bytes

EXPAND: tuple[str, ...] = (
    "safetensors", "gguf", "createdAt", "lastModified", "sha", "library_name", "pipeline_tag", "tags",
    "config", "downloads", "downloadsAllTime", "likes", "gated", "siblings", "author",
)  # fmt: skip
"""The `expand` keys the crawl asks the listing for. The Hub's `/api/models` refuses `baseModels`,
`childrenModelCount` and `usedStorage` with a 400 (only `/api/models/{id}` takes them): lineage comes
from the `base_model:` tags instead. Every item carries `_id` and `id` whatever is expanded."""

LISTING_REFUSED: frozenset[str] = frozenset({"baseModels", "childrenModelCount", "usedStorage"})
"""Expand keys `/api/models` answers with 400 (HUB_API.md); never put one in EXPAND."""

BASE_RELATIONS = frozenset({"finetune", "quantized", "adapter", "merge"})

_CONFIG_QUANT: dict[str, str] = {
    "gptq": "gptq",
    "awq": "awq",
    "fp8": "fp8",
    "fbgemm_fp8": "fp8",
    "finegrained_fp8": "fp8",
    "mxfp4": "mxfp4",
    "nvfp4": "nvfp4",
    "compressed-tensors": "compressed-tensors",
    "compressed_tensors": "compressed-tensors",
    "mlx": "mlx",
}
"""config.quantization_config.quant_method -> our vocabulary (others pass through lowercased)."""


def parse_hub_date(value: Any) -> datetime | None:
    """'2024-07-18T12:00:00.000Z' (or any ISO 8601 string) -> naive UTC datetime; None if absent/invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def hub_parameters(item: Mapping[str, Any]) -> dict[str, int]:
    """The Hub's `safetensors.parameters` as {dtype: elements} (empty when the listing has none)."""
    safetensors = item.get("safetensors")
    if not isinstance(safetensors, Mapping):
        return {}
    params = safetensors.get("parameters")
    if not isinstance(params, Mapping):
        return {}
    return {str(k): n for k, v in params.items() if (n := _int(v)) is not None and n >= 0}


def weight_accounting(params: Mapping[str, int]) -> tuple[int | None, str | None]:
    """(Σ params × storage width in bytes, dtype holding most bytes); None when unknown."""
    sized = {d: storage_bytes(d, n) for d, n in params.items()}
    known = {d: b for d, b in sized.items() if b is not None}
    if not known:
        return None, None
    dominant = max(sorted(known), key=lambda d: known[d])
    total = None if len(known) < len(sized) else sum(known.values())
    return total, dominant


def base_models(item: Mapping[str, Any]) -> tuple[list[str] | None, str | None]:
    """(base model ids, relation) from the `base_model:{id}` and `base_model:{relation}:{id}` tags.

    The listing cannot expand `baseModels`; the tags carry the same lineage (a
    finetune has both `base_model:X` and `base_model:finetune:X`). `baseModels`
    (a per-model answer) is used only when there are no such tags.
    """
    ids, relation = _base_from_tags(item.get("tags"))
    if ids:
        return ids, relation
    declared = item.get("baseModels")
    if isinstance(declared, Mapping):
        ids = [m["id"] for m in declared.get("models") or [] if isinstance(m, Mapping) and m.get("id")]
        relation = declared.get("relation")
        if ids:
            return ids, relation if isinstance(relation, str) else None
    return None, None


def _base_from_tags(tags: Any) -> tuple[list[str] | None, str | None]:
    if not isinstance(tags, list):
        return None, None
    related: dict[str, list[str]] = {}
    plain: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.startswith("base_model:"):
            continue
        rest = tag[len("base_model:") :]
        relation, _, model = rest.partition(":")
        if model and relation in BASE_RELATIONS:
            related.setdefault(relation, []).append(model)
        elif rest:
            plain.append(rest)
    if related:
        relation = next(iter(related))
        return related[relation], relation
    return (plain or None), None


def config_fields(item: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(model_type, architectures[0], quantization_config.quant_method) from the listing's `config`."""
    config = item.get("config")
    if not isinstance(config, Mapping):
        return None, None, None
    model_type = config.get("model_type")
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    quant = config.get("quantization_config")
    method = quant.get("quant_method") if isinstance(quant, Mapping) else None
    return (
        model_type if isinstance(model_type, str) else None,
        arch,
        method if isinstance(method, str) else None,
    )


def estimate_quant_method(item: Mapping[str, Any], params: Mapping[str, int]) -> str | None:
    """Our quant_method vocabulary, estimated from the listing alone (None when there are no weights)."""
    config = item.get("config") if isinstance(item.get("config"), Mapping) else {}
    quant = config.get("quantization_config") if isinstance(config, Mapping) else None
    if isinstance(quant, Mapping) and isinstance(quant.get("quant_method"), str):
        method = quant["quant_method"].lower()
        if method == "bitsandbytes":
            eight = quant.get("load_in_8bit") and not quant.get("load_in_4bit")
            return "bnb-8bit" if eight else "bnb-4bit"
        if method in ("compressed-tensors", "compressed_tensors"):
            fmt = str(quant.get("format") or "")
            if "nvfp4" in fmt:
                return "nvfp4"
            if fmt == "float-quantized":
                return "fp8"
        if method == "modelopt":
            algo = str(quant.get("quant_algo") or "").lower()
            return {"fp8": "fp8", "nvfp4": "nvfp4"}.get(algo, "modelopt")
        return _CONFIG_QUANT.get(method, method)
    if params:
        if isinstance(config, Mapping) and isinstance(config.get("quantization"), Mapping):
            return "mlx"
        _, dominant = weight_accounting(params)
        if dominant in FLOAT8_DTYPES:
            return "fp8"
        return "none"
    if isinstance(item.get("gguf"), Mapping):
        return "gguf"
    return None


def normalize(item: Mapping[str, Any]) -> dict[str, Any]:
    """One listing item -> the row dict `db.listing_store.stage_listing_page` takes."""
    model_id = str(item["id"])
    params = hub_parameters(item)
    safetensors = item.get("safetensors") if isinstance(item.get("safetensors"), Mapping) else {}
    gguf = item.get("gguf") if isinstance(item.get("gguf"), Mapping) else {}
    weight_bytes, dominant = weight_accounting(params)
    bases, relation = base_models(item)
    model_type, architecture, config_quant = config_fields(item)
    quant_method = estimate_quant_method(item, params)
    params_sum = sum(params.values()) if params else None
    effective = params_sum if quant_method == "none" else None
    gated = item.get("gated")
    tags = item.get("tags")
    files = weight_files(item)
    hub_id = item.get("_id")
    return {
        "model_id": model_id,
        "hub_id": hub_id if isinstance(hub_id, str) and hub_id else None,
        "author": item.get("author") or (model_id.split("/", 1)[0] if "/" in model_id else None),
        "created_at": parse_hub_date(item.get("createdAt")),
        "last_modified": parse_hub_date(item.get("lastModified")),
        "sha": item.get("sha"),
        "library_name": item.get("library_name"),
        "pipeline_tag": item.get("pipeline_tag"),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else None,
        "gated": None if gated in (None, False) else str(gated).lower(),
        "downloads": _int(item.get("downloads")),
        "downloads_all_time": _int(item.get("downloadsAllTime")),
        "likes": _int(item.get("likes")),
        "base_models": bases,
        "base_relation": relation,
        "model_type": model_type,
        "architecture": architecture,
        "config_quant_method": config_quant,
        "hub_total_params": _int(safetensors.get("total")),
        "hub_params_sum": params_sum,
        "gguf_total": _int(gguf.get("total")),
        "gguf_architecture": gguf.get("architecture") if isinstance(gguf.get("architecture"), str) else None,
        "gguf_context_length": _int(gguf.get("context_length")),
        "weights_source": "hub",
        "dominant_dtype": dominant,
        "quant_method": quant_method,
        "effective_params": effective,
        "weight_bytes": weight_bytes,
        "bits_per_param": (weight_bytes * 8 / effective) if weight_bytes is not None and effective else None,
        "hub_parameters": params or None,
        "weight_files": files,
        "weight_format": weight_format(files),
        "quant_config": quant_config(item),
    }


def weight_files(item: Mapping[str, Any]) -> list[str] | None:
    """The safetensors and PyTorch pickle weight files and indexes among the repo's siblings (what the
    header pass reads), plus a root `model_index.json` (a diffusers pipeline) when there are any, and
    the GGUF files (`crawler.files.weightfiles.file_format` says which names)."""
    siblings = item.get("siblings")
    if not isinstance(siblings, list):
        return None
    names = [s.get("rfilename") for s in siblings if isinstance(s, Mapping)]
    found = [n for n in names if isinstance(n, str) and file_format(n) is not None]
    if any(file_format(n) != "gguf" for n in found) and "model_index.json" in names:  # a diffusers pipeline
        found.append("model_index.json")
    return sorted(found)


def quant_config(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config's quantization settings (`quantization_config`, MLX `quantization`) as listed, else None."""
    config = item.get("config")
    if not isinstance(config, Mapping):
        return None
    kept = {
        k: config[k] for k in ("quantization_config", "quantization") if isinstance(config.get(k), Mapping)
    }
    return kept or None
