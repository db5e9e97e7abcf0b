"""The Xet side of LFS files: the xet hash, and the signed CDN ("cas-bridge") URLs resolve redirects to.

A signed URL names the repo by `_id` (so it outlives renames), the file by xet hash and path, and
carries an S3-like query (X-Amz-*); the CDN refuses a URL whose signature does not match.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from hubcensus.fakehub.repo import Repo, RepoFile, iso

SECRET = hashlib.sha256(b"fakehub-cdn-signing-key").digest()
PREFIX = "xet-bridge-us"
EXPIRES_S = 3600


def xet_hash(f: RepoFile) -> str:
    """The file's 64-hex xet hash (fakehub: derived from its sha256)."""
    return hashlib.sha256(f"xet:{f.etag()}".encode()).hexdigest()


def _signature(hub_id: str, xhash: str, path: str, date: str) -> str:
    msg = f"{hub_id}\n{xhash}\n{path}\n{date}".encode()
    return hmac.new(SECRET, msg, hashlib.sha256).hexdigest()


def signed_url(base: str, repo: Repo, f: RepoFile, now_ms: int) -> str:
    """The absolute CDN URL of an LFS file (deterministic for a given catalog time)."""
    xhash = xet_hash(f)
    date = iso(now_ms)[:19].replace("-", "").replace(":", "") + "Z"
    query = urlencode([
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Date", date), ("X-Amz-Expires", str(EXPIRES_S)),
        ("X-Amz-SignedHeaders", "host"), ("x-id", "GetObject"), ("path", f.path),
        ("response-content-disposition", f'inline; filename*=UTF-8\'\'{quote(f.path.rsplit("/", 1)[-1])};'),
        ("X-Amz-Signature", _signature(repo.object_id, xhash, f.path, date)),
    ])
    return f"{base}/{PREFIX}/{repo.object_id}/{xhash}?{query}"


def verify(hub_id: str, xhash: str, params: dict[str, str]) -> bool:
    """Whether a CDN request's signature matches what `signed_url` wrote."""
    want = _signature(hub_id, xhash, params.get("path", ""), params.get("X-Amz-Date", ""))
    return hmac.compare_digest(want, params.get("X-Amz-Signature", ""))
