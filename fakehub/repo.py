"""The repo data model every catalog source produces: `Repo` with lazily built `RepoFile`s."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Reader = Callable[[int, int], bytes]
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".onnx", ".h5", ".msgpack", ".npz")


def iso(ms: int) -> str:
    """Milliseconds since the Unix epoch -> the Hub's '2024-07-18T12:00:00.000Z'."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(s: str) -> int:
    """The Hub's date string -> milliseconds since the Unix epoch."""
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file text stored in git for an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def object_id(created_ms: int, key: str) -> str:
    """A MongoDB ObjectId-shaped 24-hex `_id`: 4 bytes of creation seconds, then 8 bytes of a hash of `key`."""
    return f"{(created_ms // 1000) & 0xFFFFFFFF:08x}" + hashlib.md5(key.encode()).hexdigest()[:16]


def bytes_reader(data: bytes, size: int | None = None) -> Reader:
    """A reader over `data`, padded with zeros up to `size` (header-only weight files)."""
    total = len(data) if size is None else size

    def read(start: int, end: int) -> bytes:
        end = min(end, total)
        if start >= end:
            return b""
        part = data[start:min(end, len(data))]
        return part + bytes(end - start - len(part))

    return read


@dataclass
class RepoFile:
    """One file of a repo: its size, ids and a range reader (end exclusive, zeros past stored bytes)."""

    path: str
    size: int
    read: Reader
    sha256: str | None = None  # set => stored in LFS
    blob_id: str = ""

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None

    def etag(self) -> str:
        """What the Hub puts in ETag / X-Linked-Etag: the sha256 for LFS, the git blob id otherwise."""
        return self.sha256 if self.sha256 is not None else self.blob_id

    def sibling(self) -> dict[str, Any]:
        """The `blobs=true` sibling entry."""
        out: dict[str, Any] = {"rfilename": self.path, "size": self.size, "blobId": self.blob_id}
        if self.sha256 is not None:
            out["lfs"] = {"sha256": self.sha256, "size": self.size,
                          "pointerSize": len(lfs_pointer(self.sha256, self.size))}
        return out


def small_file(path: str, data: bytes) -> RepoFile:
    """A regular (non-LFS) git file held in memory."""
    return RepoFile(path, len(data), bytes_reader(data), None, git_blob_sha1(data))


def lfs_file(path: str, size: int, sha256: str, read: Reader) -> RepoFile:
    """An LFS file; its blobId is the git id of its pointer."""
    return RepoFile(path, size, read, sha256, git_blob_sha1(lfs_pointer(sha256, size)))


@dataclass
class Repo:
    """A model repo at one epoch, with the fields the listing and model_info render."""

    id: str
    sha: str
    created_ms: int
    modified_ms: int
    library_name: str | None = None
    pipeline_tag: str | None = None
    tags: list[str] = field(default_factory=list)
    gated: bool | str = False
    downloads: int = 0
    downloads_all_time: int = 0
    likes: int = 0
    trending_score: int = 0
    config: dict[str, Any] | None = None
    base_models: dict[str, Any] | None = None
    gguf: dict[str, Any] | None = None
    safetensors: dict[str, Any] | None = None
    file_sizes: dict[str, int] = field(default_factory=dict)  # path -> size, in sibling order
    files_factory: Callable[[], dict[str, RepoFile]] | None = None
    _files: dict[str, RepoFile] | None = None
    hub_id: str | None = None  # the Hub's `_id`; survives renames (default: derived from createdAt and the id)
    private: bool = False  # private (not yours) = answered like a missing repo; never listed
    disabled: bool = False  # listed with disabled=true; info and files answer 403
    former_ids: list[str] = field(default_factory=list)  # older names (hub.json `former_ids`), oldest first

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def files(self) -> dict[str, RepoFile]:
        """Path -> RepoFile, built on first use."""
        if self._files is None:
            self._files = self.files_factory() if self.files_factory else {}
        return self._files

    @property
    def used_storage(self) -> int:
        return sum(self.file_sizes.values())

    @property
    def object_id(self) -> str:
        """The `_id` (set once at load so that it survives renames)."""
        if self.hub_id is None:
            self.hub_id = object_id(self.created_ms, self.id)
        return self.hub_id
