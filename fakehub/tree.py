"""A repo's git tree as the Hub's tree / paths-info entries (files and directories)."""

from __future__ import annotations

import hashlib
from typing import Any

from hubcensus.fakehub.repo import Repo, RepoFile, iso, lfs_pointer
from hubcensus.fakehub.xet import xet_hash


def file_entry(f: RepoFile) -> dict[str, Any]:
    """{"type": "file", "oid" (git blob id), "size" (the real size), "path", "lfs" {oid, size, pointerSize},
    "xetHash"} (lfs and xetHash for LFS files only)."""
    out: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.path}
    if f.sha256 is not None:
        out["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(lfs_pointer(f.sha256, f.size))}
        out["xetHash"] = xet_hash(f)
    return out


def directories(repo: Repo) -> dict[str, list[str]]:
    """Directory path -> the file paths below it (at any depth); '' is the root."""
    out: dict[str, list[str]] = {"": []}
    for p in repo.file_sizes:
        parts = p.split("/")
        out[""].append(p)
        for k in range(1, len(parts)):
            out.setdefault("/".join(parts[:k]), []).append(p)
    return out


def dir_entry(path: str, below: list[str], repo: Repo) -> dict[str, Any]:
    """{"type": "directory", "oid" (a tree id), "size": 0, "path"}."""
    listing = "\n".join(f"{p} {repo.files[p].etag()}" for p in sorted(below))
    return {"type": "directory", "oid": hashlib.sha1(f"tree {path}\n{listing}".encode()).hexdigest(), "size": 0,
            "path": path}


def masked(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as shown to a caller who may not read a gated repo's files: `xetHash` masked as 64 `*`
    (HUB_API.md: "may be masked"; tying it to gated access is fakehub's choice)."""
    return {**entry, "xetHash": "*" * 64} if "xetHash" in entry else entry


def expanded(entry: dict[str, Any], repo: Repo) -> dict[str, Any]:
    """An entry with what `expand=true` adds: lastCommit, and the security scan status for files."""
    out = dict(entry)
    out["lastCommit"] = {"id": repo.sha, "title": "Upload folder using huggingface_hub", "date": iso(repo.modified_ms)}
    if entry["type"] == "file":
        out["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                                     "pickleImportScan": None}
    return out


def entries(repo: Repo, base: str, recursive: bool) -> list[dict[str, Any]] | None:
    """Entries under directory `base` ('' = root), children only unless `recursive`; None if not a directory."""
    dirs = directories(repo)
    if base not in dirs:
        return None
    prefix = base + "/" if base else ""
    out = []
    for d in sorted(dirs):
        if d and d.startswith(prefix) and (recursive or "/" not in d[len(prefix):]):
            out.append(dir_entry(d, dirs[d], repo))
    for p in sorted(dirs[base]):
        if recursive or "/" not in p[len(prefix):]:
            out.append(file_entry(repo.files[p]))
    return out


def path_entry(repo: Repo, path: str) -> dict[str, Any] | None:
    """The entry of one path (file or directory), None if the repo has no such path."""
    f = repo.files.get(path)
    if f is not None:
        return file_entry(f)
    below = directories(repo).get(path.strip("/"))
    return dir_entry(path.strip("/"), below, repo) if below and path.strip("/") else None
