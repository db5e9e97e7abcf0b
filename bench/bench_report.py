"""Benchmark: `hubcensus report` on a large census database, against 30 s and 2 GB.

    .venv/bin/python bench/bench_report.py                     # 2,000,000 models
    .venv/bin/python bench/bench_report.py --models 200000 --keep /tmp/census.duckdb

The database is built straight into the tables with DuckDB SQL (generate_series and a
realistic mix: growth over time, BF16 overtaking F32/F16, F8 and 4-bit arriving,
quantized derivatives of earlier models, GGUF repos, unknown storage, deletions),
not through the crawler. The report then runs as a subprocess (`python -m hubcensus
report`), so the printed wall time and peak RSS are the command's own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.db.connection import open_database

LIMIT_SECONDS = 30.0
LIMIT_RSS_MB = 2048.0

BUILD_SQL = """
INSERT INTO models (model_id, author, created_at, last_modified, sha, library_name, pipeline_tag, tags, gated,
    downloads, downloads_all_time, likes, base_models, base_relation, hub_total_params, gguf_total,
    weights_source, dominant_dtype, quant_method, effective_params, weight_bytes, file_bytes, bits_per_param,
    first_seen, last_seen, deleted_at, last_run_id)
WITH raw AS (
    SELECT i,
           'org' || (hash(i) % 60000) || '/model-' || i AS model_id,
           'org' || (hash(i) % 60000) AS author,
           -- growth: most models are recent
           TIMESTAMP '2021-01-01' + to_seconds(floor(pow(random(), 0.55) * 2130 * 86400)::BIGINT) AS created_at,
           random() AS r_lib, random() AS r_fmt, random() AS r_pipe, random() AS r_base, random() AS r_size,
           random() AS r_dl, random() AS r_del
    FROM generate_series(1, $n) AS g(i)
), t AS (
    SELECT *, date_diff('day', TIMESTAMP '2021-01-01', created_at) / 2130.0 AS tt FROM raw
), fam AS (
    SELECT *,
        CASE
            WHEN r_lib < 0.08 THEN 'gguf'
            WHEN r_fmt < 0.10 THEN 'none'
            WHEN r_fmt < 0.10 + 0.45 * (1 - tt) THEN (CASE WHEN r_fmt * 7 % 1 < 0.55 THEN 'F32' ELSE 'F16' END)
            WHEN tt > 0.55 AND r_fmt > 0.97 - 0.10 * tt THEN 'F8'
            WHEN tt > 0.35 AND r_fmt > 0.85 - 0.15 * tt THEN '4bit'
            WHEN r_fmt > 0.82 AND r_fmt < 0.84 THEN 'INT8'
            ELSE 'BF16'
        END AS kind,
        floor(exp(ln(5e6) + pow(r_size, 1.6) * ln(2e4)))::BIGINT AS params
    FROM t
)
SELECT model_id, author, created_at, created_at + INTERVAL 3 DAY, md5(model_id),
       CASE WHEN kind = 'gguf' THEN 'gguf'
            WHEN kind = '4bit' AND r_lib < 0.14 THEN 'mlx'
            WHEN r_lib < 0.55 THEN 'transformers' WHEN r_lib < 0.62 THEN 'diffusers'
            WHEN r_lib < 0.68 THEN 'sentence-transformers' WHEN r_lib < 0.71 THEN 'timm'
            WHEN r_lib < 0.80 THEN 'peft' WHEN r_lib < 0.83 THEN 'mlx' ELSE NULL END,
       CASE WHEN r_pipe < 0.45 THEN 'text-generation' WHEN r_pipe < 0.55 THEN 'text-classification'
            WHEN r_pipe < 0.62 THEN 'text-to-image' WHEN r_pipe < 0.68 THEN 'sentence-similarity'
            WHEN r_pipe < 0.73 THEN 'automatic-speech-recognition' WHEN r_pipe < 0.78 THEN 'image-classification'
            WHEN r_pipe < 0.85 THEN 'feature-extraction' ELSE NULL END,
       ['safetensors'], NULL,
       floor(pow(10, pow(r_dl, 2.5) * 7))::BIGINT - 1, NULL, floor(pow(10, pow(r_dl, 3) * 4))::BIGINT - 1,
       CASE WHEN kind IN ('F8', '4bit', 'INT8', 'gguf') AND r_base < 0.85
            THEN ['org' || (hash(i // 7) % 60000) || '/model-' || (i // 7)] END,
       CASE WHEN kind IN ('F8', '4bit', 'INT8', 'gguf') AND r_base < 0.85 THEN 'quantized' END,
       CASE WHEN kind NOT IN ('none', 'gguf') THEN params END,
       CASE WHEN kind = 'gguf' THEN params END,
       CASE WHEN kind NOT IN ('none', 'gguf') THEN (CASE WHEN r_base < 0.3 THEN 'header' ELSE 'hub' END) END,
       CASE kind WHEN 'F32' THEN 'F32' WHEN 'F16' THEN 'F16' WHEN 'BF16' THEN 'BF16' WHEN 'F8' THEN 'F8_E4M3'
            WHEN '4bit' THEN (CASE WHEN r_size < 0.5 THEN 'I32' ELSE 'U8' END) WHEN 'INT8' THEN 'I8' END,
       CASE kind WHEN 'gguf' THEN 'gguf' WHEN 'none' THEN NULL WHEN 'F8' THEN 'fp8' WHEN 'INT8' THEN 'bnb-8bit'
            WHEN '4bit' THEN (['gptq', 'awq', 'bnb-4bit', 'mlx', 'mxfp4', 'nvfp4'])[1 + (i % 6)::INT]
            ELSE 'none' END,
       CASE WHEN kind NOT IN ('none', 'gguf') THEN params END,
       CASE WHEN kind NOT IN ('none', 'gguf') THEN floor(params * (CASE kind WHEN 'F32' THEN 4 WHEN 'F16' THEN 2
            WHEN 'BF16' THEN 2 WHEN 'F8' THEN 1.02 WHEN 'INT8' THEN 1.05 ELSE 0.56 + 0.1 * r_dl END))::BIGINT END,
       NULL, NULL, now()::TIMESTAMP, now()::TIMESTAMP,
       CASE WHEN r_del < 0.02 THEN now()::TIMESTAMP END, 1
FROM fam
"""


def build(path: Path, models: int) -> float:
    """Create and fill the database; returns seconds taken."""
    start = time.perf_counter()
    db = open_database(path)
    try:
        con = db.con
        con.execute(BUILD_SQL.replace("$n", str(int(models))))
        con.execute("UPDATE models SET bits_per_param = weight_bytes * 8.0 / effective_params, "
                    "file_bytes = CASE WHEN weights_source = 'header' THEN weight_bytes + 100000 END")  # fmt: skip
        con.execute(
            "INSERT INTO model_dtypes SELECT model_id, 'hub', dominant_dtype, effective_params, weight_bytes "
            "FROM models WHERE dominant_dtype IS NOT NULL"
        )
        con.execute("INSERT INTO crawl_runs (run_id, mode, started_at, finished_at, status) "
                    "VALUES (1, 'full', now()::TIMESTAMP, now()::TIMESTAMP, 'ok')")  # fmt: skip
        con.execute("CHECKPOINT")
    finally:
        db.close()
    return time.perf_counter() - start


def run_report(path: Path, out: Path) -> tuple[float, float, str]:
    """`python -m hubcensus report` as a child: (wall seconds, peak RSS MB, its output)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hubcensus", "report", "--db", str(path), "--out", str(out)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"report failed:\n{done.stderr}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return wall, peak_mb, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=2_000_000)
    parser.add_argument(
        "--keep", type=Path, help="build the database here and keep it (and the report beside it)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        path = args.keep or Path(tmp) / "census.duckdb"
        if path.exists():
            print(f"using the existing database {path}")
        else:
            seconds = build(path, args.models)
            size_mb = path.stat().st_size / 1e6
            print(f"built {args.models:,} models in {seconds:.1f} s ({size_mb:.0f} MB file): {path}")
        out = (path.parent if args.keep else Path(tmp)) / "bench-report"
        wall, peak_mb, output = run_report(path, out)
        print(output.rstrip())
        html_mb = (out / "report.html").stat().st_size / 1e6
        ok = wall < LIMIT_SECONDS and peak_mb < LIMIT_RSS_MB
        print(f"report: {wall:.1f} s wall (limit {LIMIT_SECONDS:.0f} s), peak RSS {peak_mb:.0f} MB "
              f"(limit {LIMIT_RSS_MB:.0f} MB), report.html {html_mb:.1f} MB -> {'OK' if ok else 'OVER'}")  # fmt: skip
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
