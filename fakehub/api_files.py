"""File routes: /{id}/resolve|raw/{rev}/{path} (resolvers bucket)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from hubcensus.fakehub.access import check_gate, find_repo
from hubcensus.fakehub.answers import HubError, Request, Response
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.repo import RepoFile

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
    """HEAD/GET /{id}/resolve|raw/{rev}/{path}: ETag, X-Repo-Commit, byte ranges; renamed repos 307."""
    p = req.parts
    kind, rev, path = p[2], p[3], "/".join(p[4:])
    rest = f"/{kind}/{quote(rev, safe='')}/{quote(path)}"
    repo = find_repo(cat, req, f"{p[0]}/{p[1]}", rev, "/{id}" + rest)
    check_gate(cat, repo, req.headers)
    f = repo.files.get(path)
    if f is None:
        raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}", {"X-Repo-Commit": repo.sha})
    h = {"X-Repo-Commit": repo.sha, "ETag": f'"{f.etag()}"', "Accept-Ranges": "bytes",
         "Content-Type": content_type(path)}
    if f.lfs:
        h.update({"X-Linked-Etag": f'"{f.etag()}"', "X-Linked-Size": str(f.size)})
    start, end, status, rh = byte_range(f, req.headers.get("Range"), {"X-Repo-Commit": repo.sha})
    h.update(rh)
    return Response(status, h, () if req.head else chunks(f, start, end), end - start)
