"""The only module that talks HTTP: a paced, retrying Hub client on huggingface_hub's own session.

One factory (`make_client`) builds it from endpoint + token, like huggingface_hub's
CLI does. Every call has a timeout, goes through the `Pacer` of its bucket ('api'
for /api/..., 'resolvers' for /resolve/...), retries 5xx/timeouts/dropped
connections with capped backoff and waits out 429s. The token only ever lives in
the request headers: it is never logged, stored or put in an error message.

Redirects are followed here, explicitly (huggingface_hub's session follows them with
httpx2's defaults, which drop `Authorization` on a change of origin; we do not lean
on that): a 3xx on the Hub's own host (a renamed repo, `/api/resolve-cache/...`) is
one more Hub request, paced and counted in the bucket of the request that led to it;
the 302 of an LFS file to another host (the Xet CDN, a signed URL) is followed
WITHOUT the `Authorization` header, is not paced or counted against the Hub's quota
(the resolve 302 was the resolvers request) and its answer never re-plans the pacer
(the CDN sends no `RateLimit` headers). The `Range` header follows every hop.

Range reads send `Accept-Encoding: identity` (and it follows every hop too): the CDN ignores `Range`
and answers `200` with the whole file when a request accepts gzip (huggingface_hub #3778). Such a
`200` that comes anyway is read only up to the bytes asked for and its connection closed; the file
size is then the resolve 302's `X-Linked-Size` (never the 200's `Content-Length`, the encoded body's
length: huggingface_hub #4699), and it is counted (`range_ignored`). The CDN is told apart from the
Hub by origin only (its host changes), never by name.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx2
from hubcensus.crawler.pacing import RETRY_STATUSES, Pacer, RetryPolicy, rate_limit_wait
from huggingface_hub import get_session
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

DEFAULT_TIMEOUT = 30.0
LIBRARY = "hubcensus"


def version() -> str:
    """The installed hubcensus version (for the user agent and the run ledger)."""
    try:
        return metadata.version(LIBRARY)
    except metadata.PackageNotFoundError:
        return "0+unknown"


class HubError(Exception):
    """A request that failed for good (after retries): one line, never any header."""

    def __init__(self, kind: str, message: str, *, target: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # http | timeout | connection | rate_limit | parse
        self.status = status
        self.target = target


class CrawlInterrupted(Exception):
    """The stop event was set (SIGTERM/SIGINT) while waiting."""


@dataclass(frozen=True)
class Ranged:
    """The answer to a range read: the bytes asked for, and the file size the Hub stated (None if none)."""

    body: bytes
    total: int | None
    """From `Content-Range: bytes a-b/TOTAL`, else the `X-Linked-Size` of the resolve 302 (else the
    `Content-Length` of an unencoded 200 from the Hub itself): never computed."""


MAX_REDIRECTS = 5
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$")


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


@dataclass(frozen=True)
class Page:
    """One listing page: parsed items, the absolute next-page URL (None on the last page)."""

    items: list[dict[str, Any]]
    next_url: str | None
    url: str


def bucket_of(path: str) -> str:
    """The Hub's rate-limit bucket of a path: 'resolvers' for file resolution, 'api' otherwise."""
    return "resolvers" if "/resolve/" in path else "api"


class HubClient:
    """Paced, retrying access to one Hub endpoint; counters are thread-safe."""

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        session: httpx2.Client | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.authenticated = bool(token)
        """Whether requests carry a token (gated repos answer 401 without one)."""
        self.timeout = timeout
        self.stop = stop or threading.Event()
        self.pacer = pacer or Pacer(sleep=self.sleep)
        self.retry = retry or RetryPolicy()
        self._session = session or get_session()
        self._headers = build_hf_headers(
            token=token or False, library_name=LIBRARY, library_version=version()
        )
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.rate_limited = 0
        self.retries = 0
        self._kept: dict[str, Page] = {}
        self._renames: dict[str, str] = {}
        self.answered = False
        """Whether the endpoint has answered once: before that, a connection failure is not retried."""
        self.offhost = 0
        """Redirect hops followed to another host (the CDN): outside the Hub's quota, never paced."""
        self.range_ignored = 0
        """Range reads answered `200` (the whole file) instead of `206`: read only as far as needed."""

    def __repr__(self) -> str:
        return f"HubClient(endpoint={self.endpoint})"

    def sleep(self, seconds: float) -> None:
        """Sleep that a stop request cuts short (raising CrawlInterrupted)."""
        if seconds > 0 and self.stop.wait(seconds):
            raise CrawlInterrupted("stop requested")
        if self.stop.is_set():
            raise CrawlInterrupted("stop requested")

    def _count(self, field: str, bucket: str | None = None) -> None:
        with self._lock:
            if field == "requests" and bucket is not None:
                self.requests[bucket] += 1
            elif field == "rate_limited":
                self.rate_limited += 1
            elif field == "retries":
                self.retries += 1
            elif field == "offhost":
                self.offhost += 1
            elif field == "range_ignored":
                self.range_ignored += 1

    def absolute(self, url_or_path: str) -> str:
        """An absolute URL for a path (or a stored relative cursor) on this endpoint."""
        if url_or_path.startswith(("http://", "https://")):
            return url_or_path
        return self.endpoint + "/" + url_or_path.lstrip("/")

    def relative(self, url: str) -> str:
        """The endpoint-free form of `url` (what a checkpoint stores, so a new port still resumes)."""
        return url[len(self.endpoint) :] if url.startswith(self.endpoint + "/") else url

    def _request(
        self,
        method: str,
        url: str,
        *,
        target: str,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
    ) -> tuple[httpx2.Response, bytes, dict[str, str]]:
        """One Hub request with pacing, retries and redirects: (final answer, its body, Hub-stated sizes).

        With `limit`, at most that many body bytes are read (the rest is never downloaded).
        """
        path = self.relative(url)
        bucket = bucket_of(path.split("?", 1)[0])
        all_headers = {**self._headers, **(headers or {})}
        failures = 0
        waits = 0
        while True:
            if self.stop.is_set():
                raise CrawlInterrupted("stop requested")
            self.pacer.acquire(bucket)
            self._count("requests", bucket)
            unreached = False
            try:
                response, body, stated = self._send(method, url, all_headers, bucket, limit)
            except httpx2.TimeoutException as exc:
                unreached = isinstance(exc, httpx2.ConnectTimeout)
                error = HubError(
                    "timeout", f"timeout after {self.timeout:g}s: {type(exc).__name__}", target=target
                )
            except (httpx2.NetworkError, httpx2.RemoteProtocolError, httpx2.ProtocolError) as exc:
                unreached = isinstance(exc, httpx2.ConnectError)
                error = HubError("connection", f"connection failed: {type(exc).__name__}", target=target)
            else:
                status = response.status_code
                if status == 429:
                    self._count("rate_limited")
                    waits += 1
                    wait = rate_limit_wait(response.headers)
                    if waits > self.retry.rate_limit_waits:
                        raise HubError(
                            "rate_limit", "429 Too Many Requests, gave up", target=target, status=429
                        )
                    self.pacer.penalize(bucket, wait if wait is not None else self.retry.delay(waits - 1))
                    continue
                if status >= 400 and "offhost" in stated:  # the CDN's answer (e.g. a stale signed URL):
                    error = HubError(  # not the Hub's word on the repo; retried, never taken as permanent
                        "http", f"the CDN answered {status} (after the Hub's redirect)", target=target
                    )
                elif status in RETRY_STATUSES:
                    error = HubError("http", _describe(response), target=target, status=status)
                elif status >= 300:
                    raise HubError("http", _describe(response), target=target, status=status)
                else:
                    self.answered = True
                    return response, body, stated
            if not self.answered and unreached:
                # never connected to this endpoint yet: no point retrying for minutes (offline, wrong URL)
                raise EndpointUnreachable(
                    error.kind, f"cannot reach {short_url(self.endpoint)} ({error})", target=short_url(url)
                ) from None
            if failures >= self.retry.retries:
                raise error
            self._count("retries")
            self.sleep(self.retry.delay(failures))
            failures += 1

    def _send(
        self, method: str, url: str, headers: dict[str, str], bucket: str, limit: int | None
    ) -> tuple[httpx2.Response, bytes, dict[str, str]]:
        """Send, following redirects by hand (see the module docstring); read the body, bounded by `limit`."""
        hub = _origin(httpx2.URL(self.endpoint))
        current = httpx2.URL(url)
        stated: dict[str, str] = {}
        for hop in range(MAX_REDIRECTS + 1):
            on_hub = _origin(current) == hub
            if hop and on_hub:  # another request to the Hub: it spends quota like any other
                self.pacer.acquire(bucket)
                self._count("requests", bucket)
            elif hop:
                self._count("offhost")
            if not on_hub:  # the token never leaves the Hub's host, nor comes back after another host
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            timeout = httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
            request = self._session.build_request(method, current, headers=headers, timeout=timeout)
            response = self._session.send(request, stream=True, follow_redirects=False)
            try:
                if on_hub:
                    self.pacer.observe(bucket, response.headers)
                if not on_hub:
                    stated["offhost"] = "1"
                if "X-Linked-Size" in response.headers:
                    stated["linked_size"] = response.headers["X-Linked-Size"]
                location = response.headers.get("Location")
                if response.is_redirect and location and hop < MAX_REDIRECTS:
                    target = current.join(location)
                    if on_hub and _origin(target) == hub:
                        self._note_rename(current.path, target.path)
                    current = target
                    continue
                if response.status_code >= 300 or limit is None:
                    return response, response.read(), stated
                return response, _read_at_most(response, limit), stated
            finally:
                response.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, url: str, *, target: str) -> tuple[Any, httpx2.Response]:
        failures = 0
        while True:
            response, body, _ = self._request("GET", url, target=target)
            try:
                return json.loads(body), response
            except ValueError as exc:  # a truncated or malformed body: retry like a dropped connection
                if failures >= self.retry.retries:
                    raise HubError("parse", f"invalid JSON: {exc}", target=target) from None
                self._count("retries")
                self.sleep(self.retry.delay(failures))
                failures += 1

    def list_url(
        self, *, sort: str, expand: Iterable[str], limit: int = 1000, author: str | None = None
    ) -> str:
        """The absolute URL of the first listing page."""
        params: list[tuple[str, str]] = [("sort", sort), ("limit", str(limit))]
        params += [("expand", key) for key in expand]
        if author:
            params.append(("author", author))
        return f"{self.endpoint}/api/models?{urlencode(params)}"

    def _note_rename(self, asked: str, landed: str) -> None:
        """A same-host redirect from one repo's path to another's is a rename (HUB_API.md: 307)."""
        old, new = repo_of_path(asked), repo_of_path(landed)
        if old and new and old != new:
            with self._lock:
                self._renames[old] = new

    def take_renames(self) -> dict[str, str]:
        """The renames redirects revealed since the last call ({old name: new name})."""
        with self._lock:
            renames, self._renames = self._renames, {}
        return renames

    def keep_page(self, page: Page) -> None:
        """Keep a page already fetched (the endpoint probe): the next `list_page` of its URL returns it."""
        self._kept[page.url] = page

    def list_page(self, url: str) -> Page:
        """One listing page from its absolute URL (or a stored relative cursor)."""
        url = self.absolute(url)
        kept = self._kept.pop(url, None)
        if kept is not None:
            return kept
        data, response = self._json(url, target=f"list {self.relative(url)}"[:300])
        if not isinstance(data, list):
            raise HubError("parse", "listing page is not a JSON list", target=self.relative(url))
        return _page(self, data, response, url)

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET an API path (e.g. '/api/models/org/name?blobs=true') as parsed JSON."""
        url = self.absolute(path) + (f"?{urlencode(dict(params))}" if params else "")
        return self._json(url, target=path)[0]

    def read_range(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> Ranged:
        """Bytes `start`..`end` (inclusive) of a repo file via `/resolve/` (the resolvers bucket), following
        the redirect to the CDN; with the file size the Hub stated. Never more than `end + 1` bytes are
        read, even when the answer is a `200` with the whole file (see the module docstring)."""
        url = self.absolute(f"/{model_id}/resolve/{quote(revision, safe='')}/{quote(path)}")
        want = end - start + 1
        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        response, body, stated = self._request(
            "GET", url, target=f"{model_id}/{path}", headers=headers, limit=end + 1
        )
        total = None
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            total = int(match.group(1)) if match else None
        else:  # a 200 ignored the range: its body is the file from byte 0 (only `end + 1` bytes were read)
            self._count("range_ignored")
            body = body[start : end + 1]
            encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            if "linked_size" not in stated and not encoded:  # the Hub's own 200 of a small file
                total = _int_header(response.headers.get("Content-Length"))
        if total is None:
            total = _int_header(stated.get("linked_size"))
        return Ranged(body[:want], total)

    def range_get(self, model_id: str, path: str, start: int, end: int, revision: str = "main") -> bytes:
        """Bytes `start`..`end` (inclusive) of a repo file (`read_range` without the stated size)."""
        return self.read_range(model_id, path, start, end, revision).body

    def counters(self) -> dict[str, int]:
        """Request counters in `crawl_runs` column names."""
        with self._lock:
            return {
                "requests_api": self.requests["api"],
                "requests_resolvers": self.requests["resolvers"],
                "rate_limited": self.rate_limited,
                "retries": self.retries,
                "range_ignored": self.range_ignored,
            }


def _read_at_most(response: httpx2.Response, limit: int) -> bytes:
    """The first `limit` bytes of a streamed body; the rest is not downloaded."""
    chunks, got = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        got += len(chunk)
        if got >= limit:
            break
    return b"".join(chunks)[:limit]


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(response: httpx2.Response) -> str:
    """A one-line description of an error answer (status, Hub error code/message), no request headers."""
    try:
        hf_raise_for_status(response)
    except HfHubHTTPError as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        code = response.headers.get("X-Error-Code")
        return " ".join(part for part in (f"{response.status_code}", code, first) if part)[:300]
    return f"{response.status_code}"


def make_client(
    endpoint: str,
    token: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    stop: threading.Event | None = None,
) -> HubClient:
    """The one way to build a client: huggingface_hub's shared session, our pacer and retry policy."""
    client = HubClient(endpoint, token, timeout=timeout, retry=retry, stop=stop)
    client.pacer = Pacer(sleep=client.sleep)
    return client


CONNECT_TIMEOUT = 10.0
"""Seconds the first request of a run waits for a connection (an unreachable endpoint fails fast)."""


class EndpointUnreachable(HubError):
    """The endpoint did not answer the run's first request (one line, with a hint)."""


def short_url(url: str, width: int = 60) -> str:
    """`url` without query or fragment, cut to `width` characters (for one-line messages)."""
    base = url.split("?", 1)[0].split("#", 1)[0]
    return base if len(base) <= width else base[: width - 3] + "..."


_REPO_PATH = re.compile(r"^/(?:api/models/(?P<api>[^?]+?)(?:/(?:revision|tree|paths-info)/.*)?|(?P<file>.+?)/(?:resolve|raw)/.*)$")


def repo_of_path(path: str) -> str | None:
    """The repo id a Hub path is about (`/api/models/{id}...`, `/{id}/resolve/...`), else None."""
    match = _REPO_PATH.match(unquote(path))
    return None if match is None else (match["api"] or match["file"])


def _page(client: HubClient, items: list[Any], response: httpx2.Response, url: str) -> Page:
    """A listing page from its parsed items and the answer's `Link: <...>; rel="next"`."""
    next_link = response.links.get("next", {}).get("url")
    return Page(items=items, next_url=client.absolute(next_link) if next_link else None, url=url)


def check_endpoint(
    client: HubClient, *, connect_timeout: float = CONNECT_TIMEOUT, first_page: str | None = None
) -> None:
    """One listing request, not retried, before anything is written: is this a Hub that answers?

    With `first_page` (the absolute URL of the listing page the crawl starts with), that page is
    the probe and the client keeps it, so the crawl's first `list_page` costs no second request;
    without it, a one-item listing. Raises `EndpointUnreachable` when the endpoint cannot be
    reached or does not answer like the Hub's API (a 429 counts as an answer: the crawl's pacer
    then waits it out).
    """
    url = first_page or f"{client.endpoint}/api/models?limit=1"
    target = short_url(client.endpoint)
    client._count("requests", "api")
    timeout = httpx2.Timeout(client.timeout, connect=min(connect_timeout, client.timeout))
    try:
        response = client._session.request("GET", url, headers=client._headers, timeout=timeout)
    except httpx2.TimeoutException as exc:
        raise EndpointUnreachable(
            "timeout", f"{target} did not answer ({type(exc).__name__})", target=target
        ) from None
    except (httpx2.HTTPError, OSError, ValueError) as exc:
        raise EndpointUnreachable(
            "connection", f"cannot reach {target} ({type(exc).__name__})", target=target
        ) from None
    client.pacer.observe("api", response.headers)
    if response.status_code == 429 or response.status_code < 400:
        if response.status_code < 400:
            try:
                items = json.loads(response.content)
                if not isinstance(items, list):
                    raise ValueError("not a list")
                if first_page is not None:
                    client.keep_page(_page(client, items, response, first_page))
                client.answered = True
            except ValueError:
                raise EndpointUnreachable(
                    "parse", f"{target} answered, but not like the Hub's API (/api/models)", target=target
                ) from None
        return
    raise EndpointUnreachable(
        "http", f"{target} answered HTTP {response.status_code} to /api/models: is it a Hub endpoint?",
        target=target, status=response.status_code,
    )  # fmt: skip
