"""The headline: short sentences generated from the query results (never typed-in numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hubcensus.analysis.queries import FAMILIES, Rows, first, pivot

MIN_MONTH_MODELS = 20
"""A month needs this many models of known format to be the headline's point of comparison."""

EMPTY = "No models in the database yet: run `hubcensus crawl` (or `hubcensus demo`) first."


def fmt_params(n: float | None) -> str:
    """8000000000 -> '8.0B', 125000000 -> '125M'."""
    if n is None:
        return "-"
    if n >= 1e12:
        return f"{n / 1e12:.2f}T"
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}K"
    return f"{n:.0f}"


def fmt_bytes(n: float | None) -> str:
    """Decimal units: 16000000000 -> '16.0 GB'."""
    if n is None:
        return "-"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_pct(share: float | None) -> str:
    """0.4 -> '40%', 0.0123 -> '1.2%'."""
    if share is None:
        return "-"
    value = 100 * share
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


def _trend(now_share: float, then_share: float) -> str:
    if round(now_share, 3) > round(then_share, 3):
        return "up from"
    if round(now_share, 3) < round(then_share, 3):
        return "down from"
    return "the same as"


def plural(n: int, word: str) -> str:
    """'1 model', '2 models' (with thousands separators)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def basis(overview: Mapping[str, Any], since: datetime | None, now: datetime) -> str:
    """What every number rests on: counts, months, dates."""
    scope = f", the selection starting {since:%Y-%m-%d}" if since else ""
    return (
        f"Based on {plural(overview['in_scope'], 'current model')} created {overview['first_month']} to "
        f"{overview['last_month']}{scope} ({overview['known_format']:,} with a known storage format, "
        f"{overview['header_exact']:,} measured exactly from their safetensors or GGUF headers; "
        f"{plural(overview['deleted'], 'model')} no longer public left out). Data as of {_date(overview['data_as_of'])}, "
        f"report generated {now:%Y-%m-%d %H:%M} UTC."
    )


def _date(value: datetime | None) -> str:
    return "unknown" if value is None else f"{value:%Y-%m-%d}"


def _month_label(month: str, now: datetime) -> str:
    return f"{month} (month to date)" if month == f"{now:%Y-%m}" else month


def _format_sentences(data: Mapping[str, Rows], now: datetime) -> list[str]:
    shares = pivot(data["dtype_share_by_month"], "month", "dtype_family", "share_models")
    if not shares:
        return []
    months = sorted(shares)
    counts: dict[str, int] = {}
    for row in data["dtype_share_by_month"]:
        counts[row["month"]] = counts.get(row["month"], 0) + row["models"]
    last = months[-1]
    # compare with the first month that has enough models to mean something (else the very first)
    start = next((m for m in months if counts[m] >= MIN_MONTH_MODELS), months[0])
    year_ago = f"{int(last[:4]) - 1}{last[4:]}"
    earlier = year_ago if year_ago in shares else start
    rank = {f: i for i, f in enumerate(FAMILIES)}
    leader = min(shares[last], key=lambda f: (-shares[last][f], rank[f]))
    now_share, then_share = shares[last][leader], shares[start].get(leader, 0.0)
    out = [f"{leader} holds {fmt_pct(now_share)} of new models in {_month_label(last, now)}"]
    out[0] += "." if last == start else f", {_trend(now_share, then_share)} {fmt_pct(then_share)} in {start}."
    if earlier != last:
        f8 = [fmt_pct(shares[m].get("F8", 0.0)) for m in (last, earlier)]
        q4 = [fmt_pct(shares[m].get("4-bit", 0.0)) for m in (last, earlier)]
        out.append(
            f"F8 holds {f8[0]} and 4-bit {q4[0]} of new models in {last}, against {f8[1]} and {q4[1]} in {earlier}."
        )
    return out


def _size_sentence(rows: Rows) -> list[str]:
    if not rows:
        return []
    last, start = rows[-1], rows[0]
    text = (
        f"The median new model in {last['month']} has {fmt_params(last['median_params'])} effective "
        f"parameters (p90 {fmt_params(last['p90_params'])}, {plural(last['models'], 'model')})"
    )
    if start is not last:
        text += (
            f", against {fmt_params(start['median_params'])} (p90 {fmt_params(start['p90_params'])}) "
            f"in {start['month']}"
        )
    return [text + "."]


def _cost_sentence(rows: Rows) -> list[str]:
    rows = [r for r in rows if r["dtype_family"] in ("F32", "BF16", "F16", "F8", "INT8", "4-bit")]
    if not rows:
        return []
    measured = ", ".join(f"{r['median_gb']:.2f} GB in {r['dtype_family']}" for r in rows)
    thumb = ", ".join(f"{r['rule_of_thumb_gb']:g}" for r in rows)
    return [f"Measured, 1B parameters take {measured} (medians; the rule of thumb says {thumb})."]


def _derivative_sentence(rows: Rows) -> list[str]:
    parts = [
        f"{r['dtype_family']} after {r['median_days']:g} days ({plural(r['bases'], 'base model')})"
        for r in rows
        if r["dtype_family"] in ("F8", "4-bit", "GGUF")
    ]
    if not parts:
        return []
    return ["A base model's first quantized derivative appeared after a median of: " + "; ".join(parts) + "."]


def _publisher_sentence(rows: Rows) -> list[str]:
    if not rows:
        return []
    top = rows[0]
    kinds = [(top["f8"], "F8"), (top["int8"], "INT8"), (top["four_bit"], "4-bit"), (top["gguf"], "GGUF")]
    detail = ", ".join(f"{n:,} {label}" for n, label in kinds if n)
    return [
        f"The most prolific publisher of quantized derivatives is {top['author']} ({plural(top['derivatives'], 'model')}: {detail})."
    ]


def _top_sentences(data: Mapping[str, Rows]) -> list[str]:
    out = []
    if data["largest_models"]:
        r = data["largest_models"][0]
        out.append(
            f"Largest model: {r['model_id']}, {fmt_params(r['effective_params'])} effective parameters in "
            f"{r['dtype_family'] or r['dominant_dtype'] or 'an unknown format'} ({fmt_bytes(r['weight_bytes'])} of weights)."
        )
    if data["most_downloaded"]:
        r = data["most_downloaded"][0]
        size = f", {fmt_params(r['effective_params'])} parameters" if r["effective_params"] else ""
        out.append(
            f"Most downloaded: {r['model_id']} ({r['downloads']:,} downloads in 30 days, "
            f"{r['dtype_family'] or 'unknown format'}{size})."
        )
    return out


def headline(data: Mapping[str, Rows], *, since: datetime | None, now: datetime) -> list[str]:
    """The report's opening sentences, every number taken from `data` (the named query results)."""
    overview = first(data["overview"])
    if not overview or not overview["models_all"] or not overview["models"]:
        return [EMPTY]
    if not overview["in_scope"]:
        return [f"No models created since {since:%Y-%m-%d} (the database holds {overview['models']:,})."]
    return [
        basis(overview, since, now),
        *_format_sentences(data, now),
        *_size_sentence(data["params_by_month"]),
        *_cost_sentence(data["cost_per_billion"]),
        *_derivative_sentence(data["derivative_delay"]),
        *_publisher_sentence(data["quant_publishers"]),
        *_top_sentences(data),
    ]
