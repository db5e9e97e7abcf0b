"""File routes: /{id}/resolve|raw/{rev}/{path} (resolvers bucket); tree and paths-info (API bucket)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from urllib.parse import quote, urlencode

from hubcensus.fakehub.access import check_gate, find_repo, may_read_files
from hubcensus.fakehub.answers import HubError, Request, Response, bad_request
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.repo import RepoFile
from hubcensus.fakehub.tree import entries, expanded, masked, path_entry
from hubcensus.fakehub.xet import signed_url, xet_hash

CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".txt", ".gitattributes")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def chunks(f: RepoFile, start: int, end: int) -> Iterator[bytes]:
    pos = start
    while pos < end:
        nxt = min(end, pos + CHUNK)
        yield f.read(pos, nxt)
        pos = nxt


def byte_range(f: RepoFile, rng: str | None, extra: dict[str, str]) -> tuple[int, int, int, dict[str, str]]:
    """(start, end exclusive, status, headers) of a `Range` request on f; 416 past the end."""
    start, end, status, h = 0, f.size, 200, {}
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
                           {"Content-Range": f"bytes */{f.size}", **extra})
        status = 206
        h["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
    return start, end, status, h


def resolve(cat: Catalog, req: Request) -> Response:
    """HEAD/GET /{id}/resolve|raw/{rev}/{path}: small files 200/206 here (ETag, X-Repo-Commit, ranges); LFS files
    302 to the CDN (X-Linked-Size, X-Linked-Etag, X-Xet-Hash, X-Repo-Commit); renamed repos 307."""
    p = req.parts
    k = 2 if len(p) >= 5 and p[2] in ("resolve", "raw") else 1  # /{org}/{name}/resolve/... or /{name}/resolve/...
    kind, rev, path = p[k], p[k + 1], "/".join(p[k + 2:])
    rest = f"/{kind}/{quote(rev, safe='')}/{quote(path)}"
    repo = find_repo(cat, req, "/".join(p[:k]), rev, "/{id}" + rest)
    check_gate(cat, repo, req.headers)
    f = repo.files.get(path)
    if f is None:
        raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}", {"X-Repo-Commit": repo.sha})
    if f.lfs and req.cdn:  # Xet-backed: 302 to the CDN, which serves the bytes (and the ranges)
        loc = signed_url(req.cdn, repo, f, cat.now_ms)
        return Response.redirect(302, loc, {
            "X-Repo-Commit": repo.sha, "ETag": f'"{f.etag()}"', "X-Linked-Etag": f'"{f.etag()}"',
            "X-Linked-Size": str(f.size), "X-Xet-Hash": xet_hash(f)})
    h = {"X-Repo-Commit": repo.sha, "ETag": f'"{f.etag()}"', "Accept-Ranges": "bytes",
         "Content-Type": content_type(path)}
    if f.lfs:
        h.update({"X-Linked-Etag": f'"{f.etag()}"', "X-Linked-Size": str(f.size)})
    start, end, status, rh = byte_range(f, req.headers.get("Range"), {"X-Repo-Commit": repo.sha})
    h.update(rh)
    return Response(status, h, () if req.head else chunks(f, start, end), end - start)


TREE_PAGE, TREE_PAGE_EXPAND, MAX_PATHS = 1000, 50, 1000


def _flag(v: str) -> bool:
    return v.lower() in ("1", "true", "yes")


def _tree_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"tree|{offset}".encode()).decode().rstrip("=")


def _tree_offset(cursor: str) -> int:
    try:
        kind, _, n = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        if kind != "tree" or int(n) < 0:
            raise ValueError(cursor)
        return int(n)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request("Invalid cursor") from e


def tree(cat: Catalog, req: Request) -> Response:
    """GET /api/models/{id}/tree/{rev}[/{path}]?recursive=&expand=&cursor=: 1000 entries a page (50 with
    expand), `Link` to the next page; a missing directory is EntryNotFound."""
    p = req.parts
    rev, path = p[5], "/".join(p[6:]).strip("/")
    suffix = f"/tree/{quote(rev, safe='')}" + (f"/{quote(path)}" if path else "")
    repo = find_repo(cat, req, f"{p[2]}/{p[3]}", rev, "/api/models/{id}" + suffix)
    one = dict(req.params)
    expand = _flag(one.get("expand", ""))
    found = entries(repo, path, _flag(one.get("recursive", "")))
    if found is None:
        raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}", {"X-Repo-Commit": repo.sha})
    size = TREE_PAGE_EXPAND if expand else TREE_PAGE
    start = _tree_offset(one["cursor"]) if "cursor" in one else 0
    page = found[start:start + size]
    headers = {}
    if start + size < len(found):
        kept = [(k, v) for k, v in req.params if k != "cursor"] + [("cursor", _tree_cursor(start + size))]
        url = f"http://{req.host or '127.0.0.1'}/api/models/{p[2]}/{p[3]}{suffix}?{urlencode(kept)}"
        headers["Link"] = f'<{url}>; rel="next"'
    if not may_read_files(cat, repo, req.headers):
        page = [masked(e) for e in page]
    return Response.json([expanded(e, repo) if expand else e for e in page], headers=headers)


def paths_info(cat: Catalog, req: Request) -> Response:
    """POST /api/models/{id}/paths-info/{rev} with form `paths=a&paths=b` (+ `expand`): the entries of the
    paths that exist (missing ones omitted), in the asked order."""
    p = req.parts
    rev = p[5]
    repo = find_repo(cat, req, f"{p[2]}/{p[3]}", rev, "/api/models/{id}" + f"/paths-info/{quote(rev, safe='')}")
    paths = [v for k, v in req.form if k in ("paths", "paths[]")]
    if not paths:
        raise bad_request('"paths" is required')
    if len(paths) > MAX_PATHS:
        raise bad_request(f'"paths" must contain less than or equal to {MAX_PATHS} items')
    expand = any(k == "expand" and _flag(v) for k, v in req.form)
    out = []
    for path in dict.fromkeys(paths):
        e = path_entry(repo, path)
        if e is not None and not may_read_files(cat, repo, req.headers):
            e = masked(e)
        if e is not None:
            out.append(expanded(e, repo) if expand else e)
    return Response.json(out)
