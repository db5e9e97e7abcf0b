"""Hub endpoints as pure functions: (catalog, route, path parts, query, headers) -> Response or HubError."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from hubcensus.fakehub import render
from hubcensus.fakehub.catalog import Catalog, Query, QueryError, parse_num_parameters
from hubcensus.fakehub.ondisk import read_header
from hubcensus.fakehub.repo import Repo, RepoFile

MAX_LIMIT = 1000
CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class HubError(Exception):
    """An error answer: status, X-Error-Code, X-Error-Message (+ extra headers)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Response:
    """A response to write: status, headers, body chunks and their total length."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()
    length: int = 0

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":")).encode()
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, [body], len(body))


def error_response(e: HubError) -> Response:
    """The Hub's error shape: JSON {"error": msg} plus X-Error-Code / X-Error-Message."""
    r = Response.json({"error": e.message}, e.status, {"X-Error-Code": e.code, "X-Error-Message": e.message})
    r.headers.update(e.headers)
    return r


def bad_request(msg: str) -> HubError:
    return HubError(400, "BadRequest", msg)


def dispatch(cat: Catalog, route: str, parts: list[str], params: list[tuple[str, str]],
             headers: Mapping[str, str], head: bool) -> Response:
    """Answer one routed request."""
    if route == "list":
        return list_models(cat, params, headers.get("Host"))
    if route == "model_info":
        repo_id = "/".join(parts[2:4])
        rest = parts[4:]
        if len(parts) == 3:
            raise HubError(404, "RepoNotFound", f"Repository not found: {parts[2]}")
        if not (rest == [] or (len(rest) == 2 and rest[0] == "revision")):
            raise HubError(404, "NotFound", "Not Found")
        repo = _repo(cat, repo_id, rest[1] if rest else "main")
        return model_info(repo, params)
    if route == "safetensors_metadata":
        repo = _repo(cat, "/".join(parts[2:4]), "main")
        return safetensors_metadata(repo, "/".join(parts[5:]), headers)
    if route in ("resolve_head", "resolve_get"):
        repo = _repo(cat, "/".join(parts[0:2]), parts[3])
        return resolve(repo, "/".join(parts[4:]), headers, head)
    raise HubError(404, "NotFound", "Not Found")


def _repo(cat: Catalog, repo_id: str, revision: str) -> Repo:
    repo = cat.get(repo_id)
    if repo is None:
        raise HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
    if revision not in ("main", repo.sha):
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    return repo


def _check_gate(repo: Repo, headers: Mapping[str, str]) -> None:
    if repo.gated and not (headers.get("Authorization") or "").startswith("Bearer "):
        raise HubError(401, "GatedRepo", f"Access to model {repo.id} is restricted. You must have access to it "
                       "and be authenticated to access it. Please log in.")


def _flag(v: str) -> bool:
    return v.lower() in ("1", "true", "yes")


def list_models(cat: Catalog, params: list[tuple[str, str]], host: str | None) -> Response:
    """GET /api/models: filters, sort (descending), limit, expand/full, cursor pagination with an absolute Link."""
    one: dict[str, str] = {}
    filters: list[str] = []
    expand: list[str] = []
    for k, v in params:
        if k == "filter":
            filters += [f for f in v.split(",") if f]
        elif k in ("expand", "expand[]"):
            expand += [e for e in v.split(",") if e]
        else:
            one[k] = v
    unknown = [e for e in expand if e not in render.EXPAND_KEYS]
    if unknown:
        raise bad_request(f'"expand" must be one of {sorted(render.EXPAND_KEYS)} (got {unknown[0]!r})')
    full, config, card = (_flag(one.get(k, "")) for k in ("full", "config", "cardData"))
    if expand and (full or config or card):
        raise bad_request("`expand` cannot be combined with `full`, `config` or `cardData`")
    try:
        limit = int(one.get("limit", MAX_LIMIT))
        q = Query(search=one.get("search") or None, author=one.get("author") or None, filters=tuple(filters),
                  pipeline_tag=one.get("pipeline_tag") or None,
                  gated=_flag(one["gated"]) if "gated" in one else None,
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
        kept = [(k, v) for k, v in params if k != "cursor"] + [("cursor", cursor)]
        headers["Link"] = f'<http://{host or "127.0.0.1"}/api/models?{urlencode(kept)}>; rel="next"'
    return Response.json(items, headers=headers)


def model_info(repo: Repo, params: list[tuple[str, str]]) -> Response:
    """GET /api/models/{id}[/revision/{rev}] with blobs=true and expand."""
    expand = [e for k, v in params if k in ("expand", "expand[]") for e in v.split(",") if e]
    unknown = [e for e in expand if e not in render.EXPAND_KEYS]
    if unknown:
        raise bad_request(f'"expand" must be one of {sorted(render.EXPAND_KEYS)} (got {unknown[0]!r})')
    blobs = any(k == "blobs" and _flag(v) for k, v in params)
    return Response.json(render.model_info(repo, blobs, expand or None))


def safetensors_metadata(repo: Repo, index_path: str, headers: Mapping[str, str]) -> Response:
    """GET /api/models/{id}/safetensors-metadata/{index}: the index without weight_map, and every shard header."""
    _check_gate(repo, headers)
    f = repo.files.get(index_path)
    if f is None:
        raise HubError(404, "EntryNotFound", f"{index_path} does not exist on main", {"X-Repo-Commit": repo.sha})
    try:
        index = json.loads(f.read(0, f.size))
        shards = sorted(set(index["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise bad_request(f"{index_path} is not a safetensors index") from e
    folder = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
    out: dict[str, Any] = {}
    for shard in shards:
        sf = repo.files.get(folder + shard)
        parsed = read_header(sf) if sf is not None else None
        if parsed is None:
            raise HubError(422, "InvalidSafetensors", f"Could not parse the header of {folder + shard}")
        out[shard] = parsed[1]
    return Response.json({"index": {k: v for k, v in index.items() if k != "weight_map"}, "headers": out})


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".txt", ".gitattributes")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _chunks(f: RepoFile, start: int, end: int) -> Iterator[bytes]:
    pos = start
    while pos < end:
        nxt = min(end, pos + CHUNK)
        yield f.read(pos, nxt)
        pos = nxt


def resolve(repo: Repo, path: str, headers: Mapping[str, str], head: bool) -> Response:
    """HEAD/GET /{id}/resolve|raw/{rev}/{path}: ETag, X-Repo-Commit, X-Linked-*, byte ranges."""
    f = repo.files.get(path)
    if f is None:
        raise HubError(404, "EntryNotFound", f"{path} does not exist on main", {"X-Repo-Commit": repo.sha})
    _check_gate(repo, headers)
    h = {"X-Repo-Commit": repo.sha, "ETag": f'"{f.etag()}"', "Accept-Ranges": "bytes",
         "Content-Type": _content_type(path)}
    if f.lfs:
        h.update({"X-Linked-Etag": f'"{f.etag()}"', "X-Linked-Size": str(f.size)})
    start, end, status = 0, f.size, 200
    rng = headers.get("Range")
    m = _RANGE.match(rng.strip()) if rng else None
    if m and (m.group(1) or m.group(2)):
        a, b = m.group(1), m.group(2)
        if a:
            start = int(a)
            end = min(f.size, int(b) + 1) if b else f.size
            bad = start >= f.size or (b != "" and int(b) < start)
        else:
            start, bad = max(0, f.size - int(b)), int(b) == 0
        if bad:
            raise HubError(416, "RangeNotSatisfiable", f"Requested range not satisfiable: {rng}",
                           {"Content-Range": f"bytes */{f.size}", "X-Repo-Commit": repo.sha})
        status = 206
        h["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
    return Response(status, h, () if head else _chunks(f, start, end), end - start)
