-- Views and table macros for ad-hoc SQL and the report. Stable, documented columns (docs/schema.md).
-- Re-applied on every writable open (and as TEMP objects by read-only analysis connections):
-- edit freely, keep column names stable. Statements end with ';' at the end of a line.
--
-- Every aggregate exists twice: a table macro taking `since` (a TIMESTAMP, or NULL for all
-- time: only models created on or after it count) and a `v_*` view = the macro with NULL.
-- The report calls the macros, so the report and ad-hoc SQL share one definition.
--
-- dtype_family: THE storage-format grouping used by every chart (one CASE, here only):
--   GGUF   quant_method 'gguf', or no safetensors but a GGUF file
--   F8     quant_method 'fp8' or a float8 dominant dtype (F8_E4M3, F8_E5M2, ...)
--   4-bit  F4 dominant, mxfp4/nvfp4/bnb-4bit, or a packing method (GPTQ, AWQ, MLX,
--          compressed-tensors, HQQ...) or integer storage below 8 bits per parameter
--          (2/3-bit packs land here too), or a packing method with bits unknown
--   INT8   bnb-8bit, or a packing method / integer storage at 8 to 12 bits per parameter,
--          or plain I8/U8 storage with bits unknown
--   (a packing method at 12+ bits, e.g. an unquantized MLX conversion, keeps its float dtype)
--   F32 / F16 / BF16   the dominant float dtype (no quantization)
--   other  anything else (F64, F6, integer weights above 12 bits...)
--   NULL   storage unknown (no safetensors figures and no GGUF): left out of shares

CREATE OR REPLACE VIEW v_models AS
SELECT
    m.model_id,
    m.author,
    m.created_at,
    m.last_modified,
    date_trunc('month', m.created_at) AS created_month,
    m.library_name,
    m.pipeline_tag,
    m.gated,
    m.downloads,
    m.likes,
    m.base_relation,
    m.base_models[1] AS base_model,
    m.hub_total_params,
    m.dominant_dtype,
    m.quant_method,
    m.effective_params,
    m.weight_bytes,
    m.file_bytes,
    m.bits_per_param,
    m.weights_source,
    m.gguf_total,
    m.weight_format,
    m.sha,
    m.deep_sha = m.sha AS headers_current,
    m.flags,
    CASE
        WHEN m.quant_method = 'gguf' OR (m.dominant_dtype IS NULL AND m.gguf_total IS NOT NULL) THEN 'GGUF'
        WHEN m.dominant_dtype IS NULL THEN NULL
        WHEN m.quant_method = 'fp8' OR m.dominant_dtype LIKE 'F8%' THEN 'F8'
        WHEN m.dominant_dtype = 'F4' OR m.quant_method IN ('mxfp4', 'nvfp4', 'bnb-4bit', 'f4') THEN '4-bit'
        WHEN m.quant_method = 'bnb-8bit' THEN 'INT8'
        WHEN m.quant_method IN ('gptq', 'awq', 'mlx', 'compressed-tensors', 'hqq', 'aqlm', 'exl2', 'exl3', 'quanto',
                                'eetq', 'torchao', 'bitnet', 'vptq', 'higgs', 'spqr')
          OR m.dominant_dtype IN ('I32', 'U32', 'I16', 'U16', 'I8', 'U8') THEN
            CASE
                WHEN m.bits_per_param < 8 THEN '4-bit'
                WHEN m.bits_per_param < 12 THEN 'INT8'
                WHEN m.bits_per_param IS NULL AND coalesce(m.quant_method, 'none') <> 'none' THEN '4-bit'
                WHEN m.bits_per_param IS NULL AND m.dominant_dtype IN ('I8', 'U8') THEN 'INT8'
                WHEN m.dominant_dtype IN ('F32', 'F16', 'BF16') THEN m.dominant_dtype
                ELSE 'other'
            END
        WHEN m.dominant_dtype = 'F32' THEN 'F32'
        WHEN m.dominant_dtype = 'F16' THEN 'F16'
        WHEN m.dominant_dtype = 'BF16' THEN 'BF16'
        ELSE 'other'
    END AS dtype_family,
    m.weight_bytes / nullif(m.effective_params, 0) AS bytes_per_param,
    m.active_params,
    m.expert_count,
    m.experts_per_token,
    m.shared_experts,
    m.expert_params,
    m.active_reason,
    m.expert_count > 1 AS is_moe
FROM models m
WHERE m.deleted_at IS NULL;

-- New models per month and storage format: counts, effective parameters and (30-day) downloads,
-- each with its share of the month (models of known storage format only).
CREATE OR REPLACE MACRO dtype_by_month(since) AS TABLE
WITH g AS (
    SELECT created_month, dtype_family, count(*) AS models,
           coalesce(sum(effective_params), 0)::HUGEINT AS effective_params,
           coalesce(sum(downloads), 0)::HUGEINT AS downloads
    FROM v_models
    WHERE dtype_family IS NOT NULL AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
    GROUP BY ALL
)
SELECT created_month, dtype_family, models, effective_params::BIGINT AS effective_params,
       downloads::BIGINT AS downloads,
       models / sum(models) OVER (PARTITION BY created_month) AS share_models,
       coalesce(effective_params / nullif(sum(effective_params) OVER (PARTITION BY created_month), 0), 0)
           AS share_params,
       coalesce(downloads / nullif(sum(downloads) OVER (PARTITION BY created_month), 0), 0) AS share_downloads
FROM g;

CREATE OR REPLACE VIEW v_dtype_by_month AS SELECT * FROM dtype_by_month(NULL);

-- The same split within each library ('unknown' when the Hub has none).
CREATE OR REPLACE MACRO dtype_by_library_month(since) AS TABLE
SELECT created_month, coalesce(library_name, 'unknown') AS library_name, dtype_family, count(*) AS models,
       count(*) / sum(count(*)) OVER (PARTITION BY created_month, coalesce(library_name, 'unknown'))
           AS share_models
FROM v_models
WHERE dtype_family IS NOT NULL AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW v_dtype_by_library_month AS SELECT * FROM dtype_by_library_month(NULL);

-- The same split within each pipeline tag ('unknown' when the Hub has none).
CREATE OR REPLACE MACRO dtype_by_pipeline_month(since) AS TABLE
SELECT created_month, coalesce(pipeline_tag, 'unknown') AS pipeline_tag, dtype_family, count(*) AS models,
       count(*) / sum(count(*)) OVER (PARTITION BY created_month, coalesce(pipeline_tag, 'unknown'))
           AS share_models
FROM v_models
WHERE dtype_family IS NOT NULL AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW v_dtype_by_pipeline_month AS SELECT * FROM dtype_by_pipeline_month(NULL);

-- Size of new models per month: effective (unpacked) parameters, percentiles (continuous).
CREATE OR REPLACE MACRO params_by_month(since) AS TABLE
SELECT created_month, count(*) AS models,
       quantile_cont(effective_params, 0.1) AS p10_params,
       quantile_cont(effective_params, 0.5) AS median_params,
       quantile_cont(effective_params, 0.9) AS p90_params,
       max(effective_params) AS max_params
FROM v_models
WHERE effective_params > 0 AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_params_by_month AS SELECT * FROM params_by_month(NULL);

-- Histogram of bits per parameter (weight bytes * 8 / effective parameters), half-bit bins,
-- everything at 40 bits or more in the 40 bin; bytes_per_param = bits_bin / 8.
CREATE OR REPLACE MACRO bits_histogram(since) AS TABLE
SELECT least(floor(bits_per_param * 2) / 2, 40.0) AS bits_bin,
       least(floor(bits_per_param * 2) / 2, 40.0) / 8 AS bytes_per_param,
       coalesce(dtype_family, 'other') AS dtype_family, count(*) AS models
FROM v_models
WHERE bits_per_param > 0 AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_bits_histogram AS SELECT * FROM bits_histogram(NULL);

-- New models per month by declared quantization method ('none' and unknown left out).
CREATE OR REPLACE MACRO quant_by_month(since) AS TABLE
SELECT created_month, quant_method, count(*) AS models
FROM v_models
WHERE quant_method IS NOT NULL AND quant_method <> 'none' AND created_month IS NOT NULL
  AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_quant_by_month AS SELECT * FROM quant_by_month(NULL);

-- Per base model (one that is in the database) and quantized storage format (F8, INT8, 4-bit, GGUF):
-- its derivatives (models naming it as first base model), the first one and the days it took.
-- `since` filters on the base model's creation.
CREATE OR REPLACE MACRO first_derivatives(since) AS TABLE
SELECT b.model_id AS base_model, b.author AS base_author, b.created_at AS base_created_at,
       b.created_month AS base_created_month, d.dtype_family, count(*) AS derivatives,
       arg_min(d.model_id, (d.created_at, d.model_id)) AS first_derivative,
       arg_min(d.author, (d.created_at, d.model_id)) AS first_author,
       min(d.created_at) AS first_created_at,
       date_diff('day', b.created_at, min(d.created_at)) AS days_to_first
FROM v_models b
JOIN v_models d ON d.base_model = b.model_id
WHERE d.dtype_family IN ('F8', 'INT8', '4-bit', 'GGUF') AND d.created_at >= b.created_at
  AND (since IS NULL OR b.created_at >= since)
GROUP BY 1, 2, 3, 4, 5;

CREATE OR REPLACE VIEW v_first_derivatives AS SELECT * FROM first_derivatives(NULL);

-- Who publishes quantized derivatives (models with a base model, stored F8, INT8, 4-bit or GGUF).
CREATE OR REPLACE MACRO quant_publishers(since) AS TABLE
SELECT coalesce(author, split_part(model_id, '/', 1)) AS author, count(*) AS derivatives,
       count(*) FILTER (WHERE dtype_family = 'F8') AS f8,
       count(*) FILTER (WHERE dtype_family = 'INT8') AS int8,
       count(*) FILTER (WHERE dtype_family = '4-bit') AS four_bit,
       count(*) FILTER (WHERE dtype_family = 'GGUF') AS gguf,
       coalesce(sum(downloads), 0)::BIGINT AS downloads
FROM v_models
WHERE base_model IS NOT NULL AND dtype_family IN ('F8', 'INT8', '4-bit', 'GGUF')
  AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_quant_publishers AS SELECT * FROM quant_publishers(NULL);

-- What 1B parameters cost per storage format, measured: bytes per parameter = GB (1e9 bytes) per
-- billion parameters, over models of at least 100M effective parameters; weights (all tensors,
-- scales included) and, where headers were read, whole safetensors files. Rule of thumb beside it.
CREATE OR REPLACE MACRO cost_per_billion(since) AS TABLE
SELECT dtype_family, count(*) AS models,
       quantile_cont(bytes_per_param, 0.5) AS median_gb,
       quantile_cont(bytes_per_param, 0.1) AS p10_gb,
       quantile_cont(bytes_per_param, 0.9) AS p90_gb,
       count(file_bytes) AS models_with_files,
       quantile_cont(file_bytes / effective_params, 0.5) AS median_file_gb,
       (CASE dtype_family WHEN 'F32' THEN 4 WHEN 'F16' THEN 2 WHEN 'BF16' THEN 2 WHEN 'F8' THEN 1
            WHEN 'INT8' THEN 1 WHEN '4-bit' THEN 0.5 END)::DOUBLE AS rule_of_thumb_gb
FROM v_models
WHERE dtype_family IS NOT NULL AND effective_params >= 100000000 AND weight_bytes > 0
  AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_cost_per_billion AS SELECT * FROM cost_per_billion(NULL);

-- KV cache (model_configs, from each text-generating model's config.json). Bytes of one sequence of
-- `ctx` tokens in bf16: full-attention layers grow with the context, sliding layers stop at their window.
CREATE OR REPLACE MACRO kv_cache_bytes(full_bpt, sliding_bpt, sliding_window, ctx) AS
    full_bpt * ctx + sliding_bpt * CASE WHEN sliding_window IS NULL THEN ctx ELSE least(ctx, sliding_window) END;

-- The most tokens (one sequence, bf16) whose KV cache fits in `budget` bytes, capped at `max_ctx` when known.
CREATE OR REPLACE MACRO kv_longest_context(full_bpt, sliding_bpt, sliding_window, max_ctx, budget) AS
    CASE
        WHEN full_bpt IS NULL OR sliding_bpt IS NULL OR budget IS NULL THEN NULL
        WHEN budget < 0 THEN 0
        WHEN full_bpt + sliding_bpt = 0 THEN max_ctx
        WHEN sliding_window IS NULL OR sliding_bpt = 0 OR (full_bpt + sliding_bpt) * sliding_window > budget
            THEN least(floor(budget / (full_bpt + sliding_bpt))::BIGINT, coalesce(max_ctx, 9223372036854775807))
        WHEN full_bpt = 0 THEN max_ctx
        ELSE least(floor((budget - sliding_bpt * sliding_window) / full_bpt)::BIGINT,
                   coalesce(max_ctx, 9223372036854775807))
    END;

-- Memory to run: weights + KV cache of current text-generating models whose config was read.
CREATE OR REPLACE VIEW v_model_memory AS
SELECT
    m.model_id,
    m.created_at,
    date_trunc('month', m.created_at) AS created_month,
    m.pipeline_tag,
    m.effective_params AS params,
    m.weight_bytes AS weights_bytes,
    m.weights_source,
    c.attention,
    c.rule,
    c.kv_bytes_per_token,
    c.kv_full_bytes_per_token,
    c.kv_sliding_bytes_per_token,
    c.sliding_window,
    c.kv_uncompressed_bytes_per_token,
    kv_cache_bytes(c.kv_full_bytes_per_token, c.kv_sliding_bytes_per_token, c.sliding_window, 8192) AS kv_bytes_8k,
    kv_cache_bytes(c.kv_full_bytes_per_token, c.kv_sliding_bytes_per_token, c.sliding_window, 32768) AS kv_bytes_32k,
    c.max_context,
    kv_longest_context(c.kv_full_bytes_per_token, c.kv_sliding_bytes_per_token, c.sliding_window, c.max_context,
                       24 * 1024 ^ 3 - m.weight_bytes) AS longest_context_24gb,
    c.header_check,
    c.reason,
    c.sha = m.sha AS config_current
FROM models m
JOIN model_configs c ON c.model_id = m.model_id
WHERE m.deleted_at IS NULL;

-- KV bytes per token (bf16) per billion effective parameters of the text-generating models created each month.
CREATE OR REPLACE MACRO kv_by_month(since) AS TABLE
SELECT created_month, count(*) AS models,
       quantile_cont(kv_bytes_per_token / (params / 1e9), 0.25) AS p25_kv_per_billion,
       quantile_cont(kv_bytes_per_token / (params / 1e9), 0.5) AS median_kv_per_billion,
       quantile_cont(kv_bytes_per_token / (params / 1e9), 0.75) AS p75_kv_per_billion,
       quantile_cont(kv_bytes_per_token, 0.5) AS median_kv_bytes_per_token
FROM v_model_memory
WHERE kv_bytes_per_token > 0 AND params >= 100000000 AND created_month IS NOT NULL
  AND (since IS NULL OR created_at >= since)
GROUP BY ALL;

CREATE OR REPLACE VIEW v_kv_by_month AS SELECT * FROM kv_by_month(NULL);

-- Attention kinds (mha, gqa, mqa, mla, hybrid, none) of the text-generating models created each month.
CREATE OR REPLACE MACRO attention_by_month(since) AS TABLE
SELECT created_month, attention, count(*) AS models,
       count(*) / sum(count(*)) OVER (PARTITION BY created_month) AS share_models
FROM v_model_memory
WHERE attention IS NOT NULL AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
GROUP BY 1, 2;

CREATE OR REPLACE VIEW v_attention_by_month AS SELECT * FROM attention_by_month(NULL);

-- The longest context (one sequence, bf16 KV cache, weights as stored) that fits in 24 GiB, binned.
CREATE OR REPLACE MACRO context_in_24gb(since) AS TABLE
WITH b AS (
    SELECT CASE
               WHEN longest_context_24gb IS NULL THEN 'unbounded'
               WHEN longest_context_24gb < 1 THEN 'weights do not fit'
               WHEN longest_context_24gb < 4096 THEN '< 4k'
               WHEN longest_context_24gb < 8192 THEN '4k-8k'
               WHEN longest_context_24gb < 32768 THEN '8k-32k'
               WHEN longest_context_24gb < 131072 THEN '32k-128k'
               ELSE '128k+'
           END AS context_bin,
           longest_context_24gb IS NOT NULL AND longest_context_24gb = max_context AS at_max_context
    FROM v_model_memory
    WHERE kv_bytes_per_token IS NOT NULL AND weights_bytes > 0 AND (since IS NULL OR created_at >= since)
)
SELECT context_bin,
       list_position(['weights do not fit', '< 4k', '4k-8k', '8k-32k', '32k-128k', '128k+', 'unbounded'],
                     context_bin) AS bin_order,
       count(*) AS models, count(*) FILTER (WHERE at_max_context) AS at_max_context
FROM b GROUP BY 1, 2;

CREATE OR REPLACE VIEW v_context_in_24gb AS SELECT * FROM context_in_24gb(NULL);

-- GGUF variants of each live model at its current sha: split shards joined into one variant
-- (shards share `variant`, the path without `-0000k-of-0000n` and `.gguf`). `complete`: every
-- shard present and read. Bits per weight = tensor bytes * 8 / parameters (ggml block sizes, scales
-- included). `type_mix`: the variant's ggml types by share of its tensor bytes.
CREATE OR REPLACE VIEW v_gguf_variants AS
WITH f AS (
    SELECT g.*, m.created_at
    FROM gguf_files g JOIN models m ON m.model_id = g.model_id AND m.sha = g.sha
    WHERE m.deleted_at IS NULL
), t AS (
    SELECT f.model_id, f.sha, f.variant, y.ggml_type, sum(y.bytes) AS bytes
    FROM gguf_types y JOIN f ON f.model_id = y.model_id AND f.sha = y.sha AND f.path = y.path
    GROUP BY ALL
), mix AS (
    SELECT model_id, sha, variant, arg_max(ggml_type, bytes) AS dominant_type,
           string_agg(ggml_type || ' ' || round(100.0 * bytes / nullif(total, 0), 1)::VARCHAR || '%', ', '
                      ORDER BY bytes DESC, ggml_type) AS type_mix
    FROM (SELECT *, sum(bytes) OVER (PARTITION BY model_id, sha, variant) AS total FROM t)
    GROUP BY ALL
)
SELECT f.model_id, f.sha, f.variant,
       max(f.file_type_label) AS file_type_label,
       max(f.architecture) AS architecture,
       max(f.created_at) AS created_at,
       count(*) AS files,
       max(f.split_count) AS split_count,
       count(*) FILTER (WHERE f.status = 'ok') AS files_ok,
       count(*) FILTER (WHERE f.status = 'ok') = max(f.split_count) AND count(*) = max(f.split_count) AS complete,
       lower(f.variant) LIKE '%mmproj%' AS is_projector,
       sum(f.size_bytes)::BIGINT AS size_bytes,
       sum(f.parameters)::BIGINT AS parameters,
       sum(f.tensor_bytes)::BIGINT AS tensor_bytes,
       sum(f.tensor_bytes) * 8.0 / nullif(sum(f.parameters), 0) AS bits_per_weight,
       sum(f.bytes_read)::BIGINT AS bytes_read,
       any_value(mix.dominant_type) AS dominant_type,
       any_value(mix.type_mix) AS type_mix
FROM f LEFT JOIN mix ON mix.model_id = f.model_id AND mix.sha = f.sha AND mix.variant = f.variant
GROUP BY f.model_id, f.sha, f.variant;


-- Weight file format of new models per month (models.weight_format, from the listing's siblings):
-- 'pickle' (PyTorch torch.save files only), 'safetensors', 'both' (the repo ships both), 'gguf'.
-- Models whose listing showed none of these are left out of the shares.
CREATE OR REPLACE MACRO weight_format_by_month(since) AS TABLE
SELECT created_month, weight_format, count(*) AS models,
       count(*) / sum(count(*)) OVER (PARTITION BY created_month) AS share_models,
       coalesce(sum(downloads), 0)::BIGINT AS downloads
FROM v_models
WHERE weight_format IS NOT NULL AND created_month IS NOT NULL AND (since IS NULL OR created_at >= since)
GROUP BY 1, 2;

CREATE OR REPLACE VIEW v_weight_format_by_month AS SELECT * FROM weight_format_by_month(NULL);

-- The pickle files read at each live model's current sha: their container and what their pickles name.
-- `unsafe`: the globals beyond torch's tensor/storage/dtype set and plain containers (never run).
CREATE OR REPLACE VIEW v_pickle_files AS
SELECT f.model_id, f.sha, f.path, f.component, m.created_at, date_trunc('month', m.created_at) AS created_month,
       f.size_bytes, f.header_bytes, f.tensor_count, f.pickle_container, f.pickle_globals,
       f.pickle_unsafe, len(coalesce(f.pickle_unsafe, [])) > 0 AS names_unsafe_globals
FROM safetensors_files f JOIN models m ON m.model_id = f.model_id AND m.sha = f.sha
WHERE f.file_format = 'pickle' AND m.deleted_at IS NULL;

-- Per global a pickle names beyond tensors (posix.system, builtins.eval, ...): the pickle files and
-- models naming it.
CREATE OR REPLACE MACRO pickle_unsafe_globals(since) AS TABLE
SELECT g AS global_name, count(*) AS files, count(DISTINCT model_id) AS models
FROM (SELECT model_id, unnest(pickle_unsafe) AS g FROM v_pickle_files
      WHERE names_unsafe_globals AND (since IS NULL OR created_at >= since))
GROUP BY 1;

CREATE OR REPLACE VIEW v_pickle_unsafe_globals AS SELECT * FROM pickle_unsafe_globals(NULL);
