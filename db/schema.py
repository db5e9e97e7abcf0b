"""SQLAlchemy Core tables: the one source of truth for the DuckDB schema.

All timestamps are naive UTC. Column names are part of the SQL interface
(`docs/schema.md` documents them): rename nothing without a migration.

`models` and the large history tables (`model_dtypes`, `model_versions`,
`model_stats`, `safetensors_files`, `file_dtypes`) carry no PRIMARY KEY: DuckDB
keeps every key index in memory, which at 2M models cost more than half a gigabyte.
`db.store` keeps their natural keys unique itself (anti-join inserts,
delete-then-insert), and the tests check it. The keys are named in `UNIQUE_KEYS`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

Text = sa.String
Tags = sa.ARRAY(sa.String)
Big = sa.BigInteger

models = sa.Table(
    "models",
    metadata,
    sa.Column("model_id", Text, comment="'org/name' as on the Hub"),
    sa.Column("author", Text),
    sa.Column("created_at", sa.DateTime),
    sa.Column("last_modified", sa.DateTime),
    sa.Column("sha", Text, comment="head commit of main when last seen"),
    sa.Column("library_name", Text),
    sa.Column("pipeline_tag", Text),
    sa.Column("tags", Tags),
    sa.Column("gated", Text, comment="NULL, 'auto' or 'manual'"),
    sa.Column("downloads", Big, comment="last 30 days"),
    sa.Column("downloads_all_time", Big),
    sa.Column("likes", Big),
    sa.Column("base_models", Tags),
    sa.Column("base_relation", Text, comment="finetune|quantized|adapter|merge"),
    sa.Column("model_type", Text, comment="config.model_type"),
    sa.Column("architecture", Text, comment="config.architectures[0]"),
    sa.Column("config_quant_method", Text, comment="config.quantization_config.quant_method as declared"),
    sa.Column("quant_config", sa.JSON, comment="config's quantization_config / MLX quantization, as listed"),
    sa.Column("hub_total_params", Big, comment="the Hub's safetensors.total (storage elements)"),
    sa.Column("hub_params_sum", Big, comment="sum of the Hub's per-dtype counts"),
    sa.Column("gguf_total", Big),
    sa.Column("gguf_architecture", Text),
    sa.Column("gguf_context_length", Big),
    sa.Column("weight_files", Tags, comment="safetensors files, indexes, a root model_index.json, GGUF files (siblings)"),
    # Best-known weight accounting: estimated from the listing, exact once headers were read.
    sa.Column("weights_source", Text, comment="'hub' (estimated from listing) or 'header' (exact)"),
    sa.Column("dominant_dtype", Text, comment="storage dtype holding most weight bytes"),
    sa.Column(
        "quant_method",
        Text,
        comment="none|fp8|gptq|awq|bnb-4bit|bnb-8bit|mxfp4|nvfp4|mlx|compressed-tensors|gguf|...",
    ),
    sa.Column("effective_params", Big, comment="parameters with packed values unpacked, overhead excluded"),
    sa.Column("weight_bytes", Big, comment="bytes of all tensors"),
    sa.Column("overhead_bytes", Big, comment="bytes of scales/zeros/g_idx/absmax... (header only)"),
    sa.Column("file_bytes", Big, comment="sum of the weight set's stated file sizes (header only)"),
    sa.Column("bits_per_param", sa.Double, comment="weight_bytes * 8 / effective_params"),
    sa.Column("flags", Tags, comment="reconciliation flags"),
    sa.Column("quant_evidence", Tags, comment="why quant_method was chosen (header only)"),
    sa.Column("profile", sa.JSON, comment="per-component and per-role dtype profile (header only)"),
    sa.Column("deep_sha", Text, comment="sha whose headers produced the exact figures"),
    sa.Column("deep_at", sa.DateTime),
    sa.Column("first_seen", sa.DateTime),
    sa.Column("last_seen", sa.DateTime),
    sa.Column("deleted_at", sa.DateTime, comment="no longer public: set when a completed full walk no longer saw its _id"),
    sa.Column("last_run_id", sa.Integer),
    sa.Column("hub_id", Text, comment="the Hub's _id (24 hex): the model's identity across renames and transfers"),
    sa.Column("weight_format", Text, comment="safetensors|pickle|both|gguf, from the siblings (docs/schema.md)"),
    # Mixture of experts (counting.experts, header pass): active parameters per token and the layout.
    sa.Column("active_params", Big, comment="parameters a token passes through (dense: effective_params); MTP out"),
    sa.Column("expert_count", sa.Integer, comment="routed experts per MoE layer; 0: dense"),
    sa.Column("experts_per_token", sa.Integer, comment="routed experts a token uses (top_k)"),
    sa.Column("shared_experts", sa.Integer, comment="experts every token uses"),
    sa.Column("expert_params", Big, comment="effective parameters in routed expert tensors (MTP layers out)"),
    sa.Column("active_reason", Text, comment="why active_params is NULL though headers were read"),
)

model_dtypes = sa.Table(
    "model_dtypes",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("source", Text, comment="'hub' (listing) or 'header'"),
    sa.Column("dtype", Text, comment="safetensors spelling: BF16, F8_E4M3, ..."),
    sa.Column("parameters", Big, comment="storage elements"),
    sa.Column("bytes", Big),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text),
    sa.Column("last_modified", sa.DateTime),
    sa.Column("first_seen", sa.DateTime),
    sa.Column("run_id", sa.Integer),
    sa.Column("hub_total_params", Big),
    sa.Column("hub_parameters", sa.JSON, comment="the Hub's {dtype: parameters} at this sha"),
    sa.Column("header_parameters", sa.JSON, comment="our header {dtype: parameters} at this sha"),
    sa.Column("dominant_dtype", Text),
    sa.Column("quant_method", Text),
    sa.Column("effective_params", Big),
    sa.Column("weight_bytes", Big),
)

model_stats = sa.Table(
    "model_stats",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("observed_at", sa.DateTime),
    sa.Column("run_id", sa.Integer),
    sa.Column("downloads", Big),
    sa.Column("downloads_all_time", Big),
    sa.Column("likes", Big),
)

crawl_runs = sa.Table(
    "crawl_runs",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("mode", Text, comment="incremental|full|deep|demo"),
    sa.Column("endpoint", Text),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", Text, comment="running|ok|failed|interrupted|killed"),
    sa.Column("pages", sa.Integer),
    sa.Column("models_seen", Big),
    sa.Column("models_new", Big),
    sa.Column("models_updated", Big),
    sa.Column("models_deleted", Big, comment="models a completed full walk no longer saw (no longer public)"),
    sa.Column("headers_fetched", Big),
    sa.Column("headers_left", Big, comment="models the header pass left for the next run (time budget)"),
    sa.Column("gated_skipped", Big, comment="gated models the header pass skipped (no token)"),
    sa.Column("requests_api", Big),
    sa.Column("requests_resolvers", Big),
    sa.Column("rate_limited", Big, comment="429 answers received"),
    sa.Column("retries", Big),
    sa.Column("errors", Big),
    sa.Column("watermark", sa.DateTime, comment="newest lastModified seen by this run"),
    sa.Column("message", Text),
    sa.Column("version", Text, comment="hubcensus version"),
    sa.Column("models_renamed", Big, comment="known _ids seen under a new name (rows in model_renames)"),
    sa.Column("configs_fetched", Big, comment="config.json requests of the header pass (KV cache rules)"),
    sa.Column("range_ignored", Big, comment="range reads answered 200 (the whole file) instead of 206"),
)

crawl_state = sa.Table(
    "crawl_state",
    metadata,
    sa.Column("key", Text, primary_key=True),
    sa.Column("value", Text),
    sa.Column("updated_at", sa.DateTime),
)

fetch_errors = sa.Table(
    "fetch_errors",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("model_id", Text),
    sa.Column("target", Text, comment="what was fetched: list page, file path, ..."),
    sa.Column("kind", Text, comment="http|timeout|connection|rate_limit|header|parse"),
    sa.Column("status", sa.Integer, comment="HTTP status when there was one"),
    sa.Column("message", Text, comment="one line"),
    sa.Column("occurred_at", sa.DateTime),
)

safetensors_files = sa.Table(
    "safetensors_files",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text),
    sa.Column("path", Text),
    sa.Column("component", Text, comment="top folder ('' for root): transformer, unet, text_encoder..."),
    sa.Column("size_bytes", Big, comment="file size as the Hub states it (Content-Range); NULL: none stated"),
    sa.Column("header_bytes", Big),
    sa.Column("tensor_count", Big),
    sa.Column("metadata_format", Text, comment="__metadata__.format, e.g. 'pt'"),
    sa.Column("fetched_at", sa.DateTime),
    sa.Column("file_format", Text, comment="'safetensors' or 'pickle' (torch.save); NULL: read before migration 8"),
    sa.Column("pickle_container", Text, comment="pickle files: 'zip' (torch >= 1.6) or 'legacy'"),
    sa.Column("pickle_globals", Tags, comment="pickle files: every GLOBAL the pickle names (module.name)"),
    sa.Column("pickle_unsafe", Tags, comment="pickle files: the globals beyond torch's tensor/storage set"),
    comment="every header-read weight file: safetensors and PyTorch pickles (the name predates pickles)",
)

file_dtypes = sa.Table(
    "file_dtypes",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text),
    sa.Column("path", Text),
    sa.Column("dtype", Text),
    sa.Column("tensors", Big),
    sa.Column("parameters", Big),
    sa.Column("bytes", Big),
)

LISTING_COLUMNS: tuple[str, ...] = (
    "model_id", "author", "created_at", "last_modified", "sha", "library_name", "pipeline_tag", "tags",
    "gated", "downloads", "downloads_all_time", "likes", "base_models", "base_relation", "model_type",
    "architecture", "config_quant_method", "hub_total_params", "hub_params_sum", "gguf_total",
    "gguf_architecture", "gguf_context_length", "weight_files", "quant_config", "hub_id", "weight_format",
)  # fmt: skip
"""`models` columns the listing owns: always overwritten by a newer listing row."""

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "weights_source", "dominant_dtype", "quant_method", "effective_params", "weight_bytes", "bits_per_param",
)  # fmt: skip
"""Best-known weight columns: the listing's estimate, kept exact once headers of the same sha were read."""

listing_stage = sa.Table(
    "listing_stage",
    metadata,
    sa.Column("seq", Big, comment="staging order: the newest row of a model wins the merge"),
    sa.Column("run_id", sa.Integer),
    sa.Column("seen_at", sa.DateTime),
    *(models.c[name]._copy() for name in (*LISTING_COLUMNS, *ESTIMATE_COLUMNS)),
    sa.Column("hub_parameters", sa.JSON, comment="the Hub's {dtype: parameters}"),
    comment="listing rows committed with their crawl cursor, not yet merged into models and history",
)

listing_stage_dtypes = sa.Table(
    "listing_stage_dtypes",
    metadata,
    sa.Column("seq", Big),
    *(model_dtypes.c[name]._copy() for name in ("model_id", "source", "dtype", "parameters", "bytes")),
    comment="the model_dtypes rows of listing_stage",
)

model_renames = sa.Table(
    "model_renames",
    metadata,
    sa.Column("hub_id", Text, comment="the Hub's _id of the renamed model (NULL when only a redirect told)"),
    sa.Column("old_id", Text, comment="the name it had"),
    sa.Column("new_id", Text, comment="the name it was seen under instead"),
    sa.Column("seen_at", sa.DateTime, comment="when the new name was seen (the run's start)"),
    sa.Column("run_id", sa.Integer),
    comment="every rename and transfer seen: join old_id -> new_id to find a model under its current name",
)

INTERNAL_TABLES = frozenset({"listing_stage", "listing_stage_dtypes"})
"""The crawler's working tables: not census data (exports leave them out)."""

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", Text),
    sa.Column("applied_at", sa.DateTime),
)


model_configs = sa.Table(
    "model_configs",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text, comment="commit whose config.json was read"),
    sa.Column("fetched_at", sa.DateTime),
    sa.Column("model_type", Text, comment="config (or text_config) model_type"),
    sa.Column(
        "rule", Text, comment="KV rule applied, e.g. llama-style, falcon, mla, llama-style+sliding-pattern"
    ),
    sa.Column("attention", Text, comment="mha|gqa|mqa|mla|hybrid|none"),
    sa.Column("layers", sa.Integer),
    sa.Column("attention_layers", sa.Integer, comment="layers holding a KV cache"),
    sa.Column("full_layers", sa.Integer),
    sa.Column("sliding_layers", sa.Integer),
    sa.Column("heads", sa.Integer),
    sa.Column("kv_heads", sa.Integer, comment="1 for MLA (one latent vector)"),
    sa.Column("head_dim", sa.Integer, comment="for MLA: kv_lora_rank + qk_rope_head_dim"),
    sa.Column("kv_lora_rank", sa.Integer),
    sa.Column("qk_rope_head_dim", sa.Integer),
    sa.Column("sliding_window", sa.Integer, comment="window of the sliding layers (NULL: none binds)"),
    sa.Column("max_context", Big, comment="max_position_embeddings / n_positions / seq_length"),
    sa.Column(
        "kv_bytes_per_token", Big, comment="bf16, one sequence, every layer (context within the window)"
    ),
    sa.Column("kv_full_bytes_per_token", Big, comment="bf16, full-attention layers"),
    sa.Column(
        "kv_sliding_bytes_per_token", Big, comment="bf16, sliding layers (capped at sliding_window tokens)"
    ),
    sa.Column("kv_uncompressed_bytes_per_token", Big, comment="MLA: what multi-head attention would cache"),
    sa.Column(
        "header_check", Text, comment="agrees|disagrees with the safetensors shapes; NULL: not checkable"
    ),
    sa.Column("reason", Text, comment="why the KV figures are NULL"),
    sa.Column("flags", Tags),
    sa.Column("fields", sa.JSON, comment="the config fields the rule read"),
    sa.Column("moe", sa.JSON, comment="the config's mixture-of-experts keys (counting.experts.MOE_KEYS)"),
)

UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "models": ("model_id",),
    "model_dtypes": ("model_id", "source", "dtype"),
    "model_versions": ("model_id", "sha"),
    "model_stats": ("model_id", "observed_at"),
    "safetensors_files": ("model_id", "sha", "path"),
    "file_dtypes": ("model_id", "sha", "path", "dtype"),
}
"""Natural keys that `db.store` keeps unique (no index: see the module docstring)."""

gguf_files = sa.Table(
    "gguf_files",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text, comment="commit the file was read at (history: one set of rows per sha)"),
    sa.Column("path", Text),
    sa.Column("status", Text, comment="'ok' or 'error' (a header that cannot be trusted)"),
    sa.Column("error", Text, comment="one line: why the header was refused"),
    sa.Column("version", sa.Integer, comment="GGUF version 1-3"),
    sa.Column("tensor_count", Big),
    sa.Column("kv_count", Big),
    sa.Column("parameters", Big, comment="elements of all tensors in this file"),
    sa.Column("tensor_bytes", Big, comment="bytes of all tensors (ggml block sizes, no padding)"),
    sa.Column("data_offset", Big, comment="where the tensor data starts (header + padding)"),
    sa.Column("size_bytes", Big, comment="the file size the Hub states"),
    sa.Column("file_type", sa.Integer, comment="general.file_type (llama.cpp's LlamaFileType)"),
    sa.Column("file_type_label", Text, comment="'Q4_K_M', 'F16', 'IQ2_XXS', ..."),
    sa.Column("architecture", Text, comment="general.architecture"),
    sa.Column("context_length", Big, comment="{architecture}.context_length"),
    sa.Column("block_count", Big, comment="{architecture}.block_count"),
    sa.Column("variant", Text, comment="path without the split suffix and .gguf: shards share it"),
    sa.Column("split_index", sa.Integer, comment="1-based shard number (1 for unsplit files)"),
    sa.Column("split_count", sa.Integer, comment="shards of the variant (1 for unsplit files)"),
    sa.Column("bytes_read", Big, comment="bytes the crawler fetched to read this header"),
    sa.Column("fetched_at", sa.DateTime),
)

gguf_types = sa.Table(
    "gguf_types",
    metadata,
    sa.Column("model_id", Text),
    sa.Column("sha", Text),
    sa.Column("path", Text),
    sa.Column("ggml_type", Text, comment="'Q4_K', 'Q6_K', 'F32', 'IQ2_XXS', ..."),
    sa.Column("tensors", Big),
    sa.Column("parameters", Big, comment="elements"),
    sa.Column("bytes", Big),
)

UNIQUE_KEYS["gguf_files"] = ("model_id", "sha", "path")
UNIQUE_KEYS["gguf_types"] = ("model_id", "sha", "path", "ggml_type")
