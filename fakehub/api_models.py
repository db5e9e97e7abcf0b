"""GET /api/models (the listing) and GET /api/models/{id}[/revision/{rev}] (one model)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hubcensus.fakehub import render
from hubcensus.fakehub.access import find_repo, token
from hubcensus.fakehub.answers import Request, Response, bad_request
from hubcensus.fakehub.catalog import Catalog, Query, QueryError, parse_num_parameters

MAX_LIMIT = 1000


def flag(v: str) -> bool:
    return v.lower() in ("1", "true", "yes")


def _expand(req: Request, allowed: tuple[str, ...]) -> list[str]:
    keys = req.values("expand", "expand[]")
    msg = render.expand_error(keys, allowed)
    if msg is not None:
        raise bad_request(msg)
    return keys


def list_models(cat: Catalog, req: Request) -> Response:
    """GET /api/models: filters, sort (descending), limit, expand/full, cursor pagination with an absolute Link."""
    token(req.headers)
    one: dict[str, str] = {k: v for k, v in req.params if k not in ("filter", "expand", "expand[]")}
    filters = req.values("filter")
    expand = _expand(req, render.LIST_EXPAND_KEYS)
    full, config, card = (flag(one.get(k, "")) for k in ("full", "config", "cardData"))
    if expand and (full or config or card):
        raise bad_request("`expand` cannot be combined with `full`, `config` or `cardData`")
    try:
        limit = int(one.get("limit", MAX_LIMIT))
        q = Query(search=one.get("search") or None, author=one.get("author") or None, filters=tuple(filters),
                  pipeline_tag=one.get("pipeline_tag") or None,
                  gated=flag(one["gated"]) if "gated" in one else None,
                  num_parameters=parse_num_parameters(one["num_parameters"]) if "num_parameters" in one else (None, None))
        if limit < 1:
            raise QueryError("limit must be positive")
        if one.get("direction", "-1") != "-1":
            raise QueryError("Only descending sort (direction=-1) is supported")
        repos, cursor = cat.page(one.get("sort") or None, q, min(limit, MAX_LIMIT), one.get("cursor"))
    except (QueryError, ValueError) as e:
        raise bad_request(str(e)) from e
    extra = [*(["config"] if config else []), *(["cardData"] if card else [])]
    items = []
    for r in repos:
        item = render.list_item(r, expand or None, full)
        for key in extra:
            v = render.field(r, key)
            if v is not render.ABSENT:
                item[key] = v
        items.append(item)
    headers = {}
    if cursor is not None:
        kept = [(k, v) for k, v in req.params if k != "cursor"] + [("cursor", cursor)]
        headers["Link"] = f'<http://{req.host or "127.0.0.1"}/api/models?{urlencode(kept)}>; rel="next"'
    return Response.json(items, headers=headers)


def model_info(cat: Catalog, req: Request) -> Response:
    """GET /api/models/{id}[/revision/{rev}]: blobs=true, expand (listing keys + baseModels, childrenModelCount,
    usedStorage); a renamed repo answers 307 to its new name."""
    p = req.parts
    if len(p) == 3:
        repo_id, suffix, rev = p[2], "", "main"
    else:
        repo_id, suffix = f"{p[2]}/{p[3]}", ("/revision/" + quote(p[5], safe="") if len(p) == 6 else "")
        rev = p[5] if len(p) == 6 else "main"
    repo = find_repo(cat, req, repo_id, rev, "/api/models/{id}" + suffix)
    expand = _expand(req, render.INFO_EXPAND_KEYS)
    blobs = any(k == "blobs" and flag(v) for k, v in req.params)
    if blobs and expand:
        raise bad_request("`blobs` cannot be combined with `expand`")
    return Response.json(render.model_info(repo, blobs, expand or None))
