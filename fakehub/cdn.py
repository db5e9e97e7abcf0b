"""The CDN: a second loopback listener serving LFS bytes behind resolve's 302, like the Hub's Xet bridge.

It honours `Range` (206 + `Content-Range: bytes a-b/TOTAL`); with `gzip_ignores_range` (FakeHubConfig
`cdn_gzip_ignores_range`, off by default) not when the request accepts gzip: then, like
the Hub's CloudFront (huggingface_hub #3778), it ignores the range and answers `200` with the whole file,
`Content-Encoding: gzip` (stored deflate blocks: as many bytes on the wire as the file, and a
`Content-Length` that is not the file's size). An `Accept-Encoding` without gzip, or none, gets the 206.
It has no rate limit, and carries none of the Hub's `X-*` headers. `--latency-ms` does not apply to it (an edge cache next to the client; injected
faults do, unless `FaultConfig.routes` leaves out `cdn_get`/`cdn_head`). Every request is counted in stats (bucket `cdn`), and so is every request
that carried an `Authorization` header (`stats.snapshot()["cdn"]["with_authorization"]`): clients
must never send one across the host hop. Ranges it ignored are counted too (`stats.snapshot()["cdn_range"]`:
`ignored`, and `body_bytes`, the body bytes handed to the socket for them).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from hubcensus.fakehub.answers import HubError, Response
from hubcensus.fakehub.api_files import byte_range, chunks
from hubcensus.fakehub.repo import RepoFile
from hubcensus.fakehub.server import Handler
from hubcensus.fakehub.xet import PREFIX, verify, xet_hash

if TYPE_CHECKING:
    from hubcensus.fakehub.server import FakeHubServer


def s3_error(e: HubError) -> Response:
    """An S3-like XML error, without any X-* header."""
    code = {403: "AccessDenied", 404: "NoSuchKey", 416: "InvalidRange"}.get(e.status, "InternalError")
    body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{e.message}</Message></Error>"
    r = Response.text(body, e.status, {"Content-Type": "application/xml"})
    r.headers.update({k: v for k, v in e.headers.items() if not k.lower().startswith("x-")})
    return r


class CdnServer(ThreadingHTTPServer):
    """The CDN listener; shares catalog, faults and stats with its Hub server."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], hub: FakeHubServer) -> None:
        super().__init__(address, CdnHandler)
        self.hub = hub
        self.catalog, self.faults, self.stats = hub.catalog, hub.faults, hub.stats
        self.gzip_ignores_range = False
        """Answer a range read that accepts gzip with 200 + the whole file (`FakeHubConfig.cdn_gzip_ignores_range`)."""

    def handle_error(self, request: object, client_address: object) -> None:
        self.hub.handle_error(request, client_address)


class CdnHandler(Handler):
    """GET/HEAD /xet-bridge-us/{_id}/{xet hash}?...signed query."""

    server: CdnServer  # type: ignore[assignment]

    def do_POST(self) -> None:
        self._answer(False, "cdn_get", "cdn", {}, lambda: s3_error(HubError(405, None, "Method Not Allowed")),
                     s3_error)

    def _handle(self, head: bool) -> None:
        srv = self.server
        if self.headers.get("Authorization") is not None:
            srv.stats.add("cdn.authorization")
        route = "cdn_head" if head else "cdn_get"
        self._answer(head, route, "cdn", {}, lambda: self._serve(head), s3_error, latency=False)

    def _serve(self, head: bool) -> Response:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if len(parts) != 3 or parts[0] != PREFIX:
            raise HubError(404, None, "The specified key does not exist.")
        hub_id, xhash = parts[1], parts[2]
        if not verify(hub_id, xhash, params):
            raise HubError(403, None, "The request signature we calculated does not match the signature you provided.")
        repo = self.server.catalog.repo_by_hub_id(hub_id)
        f = repo.files.get(params.get("path", "")) if repo is not None else None
        if f is None or not f.lfs or xet_hash(f) != xhash:
            raise HubError(404, None, "The specified key does not exist.")
        h = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "ETag": f'"{f.etag()}"',
             "Cache-Control": "public, max-age=604800, immutable"}
        if params.get("response-content-disposition"):
            h["Content-Disposition"] = params["response-content-disposition"]
        start, end, status, rh = byte_range(f, self.headers.get("Range"), {})
        if status == 206 and self.server.gzip_ignores_range and accepts_gzip(self.headers.get("Accept-Encoding")):  # the CDN's 200 (see above)
            self.server.stats.add("cdn_range.ignored")
            h.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
            body = () if head else gzip_stored(f, lambda n: self.server.stats.add("cdn_range.body_bytes", n))
            return Response(200, h, body, gzip_stored_length(f.size))
        h.update(rh)
        return Response(status, h, () if head else chunks(f, start, end), end - start)


def accepts_gzip(value: str | None) -> bool:
    """Whether an `Accept-Encoding` accepts gzip (`gzip` or `*`, not with q=0); none accepts only identity."""
    for part in (value or "").split(","):
        name, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        if name.strip().lower() in ("gzip", "x-gzip", "*") and q not in ("0", "0.0", "0.00", "0.000"):
            return True
    return False


BLOCK = 65535
"""Bytes per stored deflate block (its LEN field is 16 bits)."""
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # magic, deflate, no flags, mtime 0, OS unknown


def gzip_stored_length(size: int) -> int:
    """The length of `gzip_stored` for a file of `size` bytes: header, 5 bytes per block, data, trailer."""
    return len(_GZIP_HEADER) + 5 * max(1, -(-size // BLOCK)) + size + 8


def gzip_stored(f: RepoFile, sent: Callable[[int], None]) -> Iterator[bytes]:
    """The whole file as a gzip stream of stored (uncompressed) deflate blocks, about 1 MiB per chunk;
    `sent(n)` is told each chunk's length as it is handed on."""
    out, crc, pos = [_GZIP_HEADER], 0, 0
    while True:
        block = f.read(pos, min(f.size, pos + BLOCK))
        pos += len(block)
        final = pos >= f.size
        crc = zlib.crc32(block, crc)
        out.append(bytes([1 if final else 0]) + len(block).to_bytes(2, "little")
                   + (len(block) ^ 0xFFFF).to_bytes(2, "little") + block)
        if final:
            out.append(crc.to_bytes(4, "little") + (f.size & 0xFFFFFFFF).to_bytes(4, "little"))
        if final or len(out) >= 16:
            chunk = b"".join(out)
            sent(len(chunk))
            yield chunk
            out = []
        if final:
            return
