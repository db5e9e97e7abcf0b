"""Repo -> the Hub's JSON shapes: listing items (compact, full, expand) and model_info."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubcensus.fakehub.repo import Repo, iso

LIST_EXPAND_KEYS = (
    "author", "cardData", "config", "createdAt", "disabled", "downloads", "downloadsAllTime", "evalResults",
    "gated", "gguf", "inference", "inferenceProviderMapping", "lastModified", "library_name", "likes",
    "mask_token", "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors", "sha", "siblings",
    "spaces", "tags", "transformersInfo", "trendingScore", "widgetData",
)  # what GET /api/models accepts (HUB_API.md)
INFO_ONLY_EXPAND_KEYS = ("baseModels", "childrenModelCount", "usedStorage")  # refused by the listing
INFO_EXPAND_KEYS = tuple(sorted((*LIST_EXPAND_KEYS, *INFO_ONLY_EXPAND_KEYS), key=str.lower))
EXPAND_KEYS = frozenset(INFO_EXPAND_KEYS)
ABSENT = object()


def expand_error(keys: list[str], allowed: tuple[str, ...]) -> str | None:
    """The Hub's 400 message when a key is not allowed (`"expand" must be one of [a, b, ...]`), else None."""
    if all(k in allowed for k in keys):
        return None
    return f'"expand" must be one of [{", ".join(allowed)}]'


_FIELDS: dict[str, Callable[[Repo], Any]] = {
    "author": lambda r: r.author,
    "baseModels": lambda r: r.base_models or ABSENT,
    "cardData": lambda r: {"library_name": r.library_name, "tags": r.tags} if r.library_name else ABSENT,
    "childrenModelCount": lambda r: 0,
    "config": lambda r: ABSENT if r.config is None else r.config,
    "createdAt": lambda r: iso(r.created_ms),
    "lastModified": lambda r: iso(r.modified_ms),
    "disabled": lambda r: r.disabled,
    "downloads": lambda r: r.downloads,
    "downloadsAllTime": lambda r: r.downloads_all_time,
    "gated": lambda r: r.gated,
    "gguf": lambda r: ABSENT if r.gguf is None else r.gguf,
    "inferenceProviderMapping": lambda r: [],
    "library_name": lambda r: r.library_name or ABSENT,
    "likes": lambda r: r.likes,
    "pipeline_tag": lambda r: r.pipeline_tag or ABSENT,
    "private": lambda r: r.private,
    "safetensors": lambda r: ABSENT if r.safetensors is None else r.safetensors,
    "sha": lambda r: r.sha,
    "siblings": lambda r: [{"rfilename": p} for p in r.file_sizes],
    "spaces": lambda r: [],
    "tags": lambda r: r.tags,
    "trendingScore": lambda r: r.trending_score,
    "usedStorage": lambda r: r.used_storage,
}  # evalResults, inference, mask_token, model-index, resourceGroup, transformersInfo, widgetData: absent


def field(repo: Repo, key: str) -> Any:
    """The value of one expand key, or ABSENT when the Hub would leave the key out."""
    fn = _FIELDS.get(key)
    return ABSENT if fn is None else fn(repo)


def expanded(repo: Repo, keys: list[str]) -> dict[str, Any]:
    """An item with only the asked keys plus `id` and `_id`."""
    out: dict[str, Any] = {"_id": repo.object_id, "id": repo.id}
    for k in keys:
        fn = _FIELDS.get(k)
        if fn is not None:
            v = fn(repo)
            if v is not ABSENT:
                out[k] = v
    return out


_COMPACT = ("likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag", "library_name", "createdAt")
_FULL = ("author", "sha", "lastModified", "gated", "disabled", "siblings")


def list_item(repo: Repo, expand: list[str] | None, full: bool) -> dict[str, Any]:
    """One listing item: expand keys, else the Hub's compact item (plus `full` fields)."""
    if expand:
        return expanded(repo, expand)
    out = expanded(repo, [*_COMPACT, *(_FULL if full else ())])
    out["modelId"] = repo.id
    return out


def model_info(repo: Repo, blobs: bool, expand: list[str] | None) -> dict[str, Any]:
    """The `GET /api/models/{id}` document (siblings with size/blobId/lfs when `blobs`)."""
    if expand:
        return expanded(repo, expand)
    keys = ["author", "sha", "lastModified", "private", "disabled", "gated", "pipeline_tag", "tags", "downloads",
            "library_name", "likes", "config", "cardData", "createdAt", "baseModels", "siblings", "spaces",
            "safetensors", "gguf", "usedStorage", "trendingScore", "downloadsAllTime", "childrenModelCount"]
    out = expanded(repo, keys)
    out["modelId"] = repo.id
    if blobs:
        out["siblings"] = [f.sibling() for f in repo.files.values()]
    return out
