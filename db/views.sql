-- Views for ad-hoc SQL. Stable, documented columns (docs/schema.md).
-- Re-applied on every writable open: edit freely, keep column names stable.

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
    m.sha,
    m.deep_sha = m.sha AS headers_current,
    m.flags
FROM models m
WHERE m.deleted_at IS NULL;
