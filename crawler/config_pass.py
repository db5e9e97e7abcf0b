"""config.json in the header pass: the KV-cache figures of models that generate text.

Request plan: ONE resolver request per text-generating model and commit
(``GET /{id}/resolve/{sha}/config.json`` with ``Range: bytes=0-{MAX_CONFIG_BYTES - 1}``, through
`crawler.hub`), made only when the model's stored config is not of its current sha. Counted by
the client's resolver counter and in the ledger's `crawl_runs.configs_fetched`.

Which models: pipeline `text-generation` / `image-text-to-text`, or an architecture ending in
`ForCausalLM` / `LMHeadModel`, or `ForConditionalGeneration` outside speech, translation and
seq2seq pipelines (kept only when its config has a nested text config). A config that cannot be
read for good (gone, gated, not JSON, too large) is stored with a reason, so it is not asked again
until the sha changes; a transient failure stores nothing, and `backfill` (run after the header pass)
reads what is still missing: models whose headers were read before this code existed, or whose config
read failed transiently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hubcensus.crawler.counting.experts import moe_fields
from hubcensus.crawler.counting.kv_cache import NESTED_TEXT_KEYS, KvLayout, analyze_config
from hubcensus.crawler.counting.kv_check import cross_check
from hubcensus.crawler.hub import HubError

MAX_CONFIG_BYTES = 1_000_000
TEXT_PIPELINES = frozenset({"text-generation", "image-text-to-text"})
NOT_DECODER_PIPELINES = frozenset({
    "automatic-speech-recognition", "text-to-speech", "text-to-audio", "audio-to-audio", "translation",
    "summarization", "text2text-generation", "feature-extraction", "fill-mask", "text-classification",
})  # fmt: skip
PERMANENT = frozenset({401, 403, 404, 416})
REMOTE_CODE_LMS = frozenset({"ChatGLMModel", "RWModel"})
"""Remote-code decoder LMs whose class name does not say so."""


@dataclass(frozen=True)
class ConfigRead:
    """What one model's config read produced: a `model_configs` row (None: try again) and its requests."""

    row: dict[str, Any] | None
    requests: int


def wants_config(pipeline_tag: str | None, architecture: str | None) -> bool:
    """Whether the model may generate text (its config.json is worth one request)."""
    if pipeline_tag in TEXT_PIPELINES:
        return True
    arch = architecture or ""
    if arch.endswith(("ForCausalLM", "LMHeadModel")) or arch in REMOTE_CODE_LMS:
        return True
    return arch.endswith("ForConditionalGeneration") and pipeline_tag not in NOT_DECODER_PIPELINES


def config_row(
    model_id: str, sha: str, config: Any, tensors: Iterable[Any] = (), *, pipeline_tag: str | None = None
) -> dict[str, Any]:
    """The `model_configs` row of a parsed config.json (pure; `tensors` for the header cross-check)."""
    layout = analyze_config(config)
    arch = " ".join(str(a) for a in (config.get("architectures") or [])) if isinstance(config, dict) else ""
    nested = isinstance(config, dict) and any(isinstance(config.get(k), dict) for k in NESTED_TEXT_KEYS)
    if isinstance(config, dict) and not nested and _encoder_decoder(config):
        layout = KvLayout(model_type=layout.model_type, reason="encoder-decoder model: not covered")
    elif (
        "ForConditionalGeneration" in arch
        and not nested
        and layout.reason
        and pipeline_tag not in TEXT_PIPELINES
    ):
        layout = KvLayout(model_type=layout.model_type, reason="no text_config: not a decoder language model")
    check, flags = cross_check(layout, tensors)
    row = layout_row(model_id, sha, layout, header_check=check, extra_flags=flags)
    row["moe"] = moe_fields(config) or None  # what the active-parameter rule reads, kept for later passes
    return row


def _encoder_decoder(config: dict[str, Any]) -> bool:
    """T5, BART, Whisper, Marian...: cross-attention caches these rules do not cover."""
    return bool(config.get("is_encoder_decoder")) or any(
        key in config for key in ("encoder_layers", "num_decoder_layers", "decoder_layers")
    )


def layout_row(model_id: str, sha: str, layout: KvLayout, *, header_check: str | None = None,
               extra_flags: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """A `model_configs` row from a layout (bytes in bf16)."""

    def bf16(elements: int | None) -> int | None:
        return None if elements is None else elements * 2

    return {
        "model_id": model_id, "sha": sha, "model_type": layout.model_type, "rule": layout.rule,
        "attention": layout.attention, "layers": layout.layers, "attention_layers": layout.attention_layers,
        "full_layers": layout.full_layers, "sliding_layers": layout.sliding_layers, "heads": layout.heads,
        "kv_heads": layout.kv_heads, "head_dim": layout.head_dim, "kv_lora_rank": layout.kv_lora_rank,
        "qk_rope_head_dim": layout.qk_rope_head_dim, "sliding_window": layout.sliding_window,
        "max_context": layout.max_context, "kv_bytes_per_token": layout.bytes_per_token(),
        "kv_full_bytes_per_token": bf16(layout.full_elements),
        "kv_sliding_bytes_per_token": bf16(layout.sliding_elements),
        "kv_uncompressed_bytes_per_token": bf16(layout.uncompressed_elements),
        "header_check": header_check, "reason": layout.reason,
        "flags": [*layout.flags, *(extra_flags or [])], "fields": layout.fields,
    }  # fmt: skip


def _failed(model_id: str, sha: str, reason: str) -> dict[str, Any]:
    return layout_row(model_id, sha, KvLayout(reason=reason[:300]))


def read_config(source: Any, candidate: Any, files: Iterable[Any] = ()) -> ConfigRead | None:
    """Read and count one model's config.json at its commit (None when it is not wanted or current).

    `candidate`: a header-queue `Candidate` (model_id, sha, pipeline_tag, architecture, config_sha);
    `files`: its parsed safetensors headers, for the cross-check.
    """
    pipeline = getattr(candidate, "pipeline_tag", None)
    if not wants_config(pipeline, getattr(candidate, "architecture", None)):
        return None
    if getattr(candidate, "config_sha", None) == candidate.sha:
        return None
    model_id, sha = candidate.model_id, candidate.sha
    try:
        body = source.range_get(model_id, "config.json", 0, MAX_CONFIG_BYTES - 1, sha)
    except HubError as exc:
        if exc.status in PERMANENT:
            return ConfigRead(_failed(model_id, sha, f"config.json unreadable: {exc}"), 1)
        return ConfigRead(None, 1)
    if len(body) >= MAX_CONFIG_BYTES:
        return ConfigRead(_failed(model_id, sha, f"config.json larger than {MAX_CONFIG_BYTES:,} bytes"), 1)
    try:
        config = json.loads(body)
    except ValueError as exc:
        return ConfigRead(_failed(model_id, sha, f"config.json is not valid JSON: {exc}"), 1)
    tensors = (tensor for header in files for tensor in header.tensors)
    return ConfigRead(config_row(model_id, sha, config, tensors, pipeline_tag=pipeline), 1)


def backfill(
    db: Any, client: Any, *, run_id: int, workers: int = 8, deadline: float | None = None, gated: bool = True
) -> int:
    """Read the configs the header pass did not (its headers were current before this code, or an earlier
    config read failed for a while): one request per model, most of them text generators. Returns the
    rows stored; stops at `deadline` (a `time.monotonic()` value)."""
    from hubcensus.db.config_store import pending_configs, store_configs

    stored = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="config") as pool:
        for chunk in pending_configs(db, gated=gated):
            wanted = [c for c in chunk if wants_config(c.pipeline_tag, c.architecture)]
            reads = [read for read in pool.map(lambda c: read_config(client, c), wanted) if read is not None]
            rows = [read.row for read in reads if read.row]
            store_configs(db, rows, run_id=run_id, requests=sum(read.requests for read in reads))
            stored += len(rows)
            if deadline is not None and time.monotonic() >= deadline:
                break
    return stored
