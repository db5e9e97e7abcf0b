"""The HTTP side: a keep-alive ThreadingHTTPServer that routes Hub URLs, with rate limits, faults and stats."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from hubcensus.fakehub import routes
from hubcensus.fakehub.access import Redirect
from hubcensus.fakehub.answers import HubError, Request, Response, error_response
from hubcensus.fakehub.catalog import Catalog
from hubcensus.fakehub.faults import Faults
from hubcensus.fakehub.ratelimit import RateLimiter
from hubcensus.fakehub.stats import Stats

MAX_BODY = 1 << 20


class FakeHubServer(ThreadingHTTPServer):
    """The server object: catalog, limiter, faults and stats shared by all handler threads."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], catalog: Catalog, limiter: RateLimiter, faults: Faults) -> None:
        super().__init__(address, Handler)
        self.catalog, self.limiter, self.faults = catalog, limiter, faults
        self.stats = Stats()
        self.cdn: ThreadingHTTPServer | None = None  # the second listener (cdn.CdnServer), set by app.make_server
        self._cdn_thread: threading.Thread | None = None

    @property
    def cdn_url(self) -> str | None:
        """Base URL of the CDN listener (None when there is none)."""
        if self.cdn is None:
            return None
        host, port = self.cdn.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve the Hub here and the CDN on a second thread until `shutdown()`."""
        if self.cdn is not None and self._cdn_thread is None:
            self._cdn_thread = threading.Thread(target=self.cdn.serve_forever, kwargs={"poll_interval": 0.05},
                                                name="fakehub-cdn", daemon=True)
            self._cdn_thread.start()
        super().serve_forever(poll_interval)

    def shutdown(self) -> None:
        if self.cdn is not None and self._cdn_thread is not None:
            self.cdn.shutdown()
            self._cdn_thread.join(timeout=5)
        super().shutdown()

    def server_close(self) -> None:
        if self.cdn is not None:
            self.cdn.server_close()
        super().server_close()

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client goes away mid-answer; report real bugs."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive, every response has a Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers (302s, errors) must not wait for a delayed ACK
    server: FakeHubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_POST(self) -> None:
        self._handle(head=False)

    def _form(self) -> list[tuple[str, str]]:
        """The url-encoded body of a POST (read whole, so keep-alive stays in sync)."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise HubError(413, None, "Payload Too Large")
        body = self.rfile.read(n) if n else b""
        return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)

    def _handle(self, head: bool) -> None:
        srv = self.server
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        params = parse_qsl(url.query, keep_blank_values=True)
        try:
            form = self._form() if self.command == "POST" else []
        except HubError as e:
            self.close_connection = True
            self._write(error_response(e), head)
            return
        if parts and parts[0] == "_fakehub":
            self._write(self._internal(parts, params), head)
            return
        rule = routes.classify(parts, self.command)
        route, bucket = routes.stat_kind(rule, self.command), rule.bucket
        verdict = srv.limiter.take(bucket, self.client_address[0])
        rl = verdict.headers()
        if not verdict.allowed:
            msg = f"You have exceeded the rate limit for {bucket} requests. Retry in {verdict.reset_s} seconds."
            resp = error_response(HubError(429, "RateLimited", msg, rl))
            srv.stats.record(bucket, route, 429, resp.length)
            self._write(resp, head)
            return
        req = Request(self.command, parts, params, self.headers, form, url.query, srv.cdn_url)
        self._answer(head, route, bucket, rl, lambda: routes.dispatch(srv.catalog, rule, req), error_response)

    def _answer(self, head: bool, route: str, bucket: str, extra: dict[str, str],
                answer: Callable[[], Response], on_error: Callable[[HubError], Response], latency: bool = True) -> None:
        """Latency, injected faults, the answer (errors rendered by `on_error`), stats, and the write."""
        srv = self.server
        cfg = srv.faults.config
        if cfg.latency_ms and latency:
            time.sleep(cfg.latency_ms / 1000)
        fault, fail_status = srv.faults.decide(self.command, self.path, route)
        if fault == "drop" or (fault == "truncate" and head):
            srv.stats.add("fault.drop")
            srv.stats.record(bucket, route, 0)
            self.close_connection = True
            return
        if fault == "fail":
            srv.stats.add("fault.fail")
            resp = on_error(HubError(fail_status, "ServerError", "Injected fault", dict(extra)))
        else:
            try:
                resp = answer()
            except HubError as e:
                resp = on_error(e)
            except Redirect as r:
                resp = r.response
            except Exception as e:  # pragma: no cover - a bug must still answer
                traceback.print_exc(file=sys.stderr)
                resp = on_error(HubError(500, "InternalError", f"fakehub bug: {e!r}"))
        resp.headers.update(extra)
        srv.stats.record(bucket, route, resp.status, 0 if head else resp.length)
        if fault == "truncate":
            srv.stats.add("fault.truncate")
            self._write(resp, head, truncate=True)
            return
        self._write(resp, head)

    def _internal(self, parts: list[str], params: list[tuple[str, str]]) -> Response:
        srv = self.server
        if parts[1:] == ["stats"]:
            return Response.json(srv.stats.snapshot())
        if parts[1:] == ["truth"]:
            q = dict(params)
            model_id = q.get("id", "")
            truth = srv.catalog.truth_by_hub_id(q["_id"]) if "_id" in q else srv.catalog.truth(model_id)
            if truth is None:
                return error_response(HubError(404, "RepoNotFound", f"Repository {model_id} not found"))
            return Response.json(truth)
        if parts[1:] == ["renames"]:
            since = dict(params).get("since")
            return Response.json(srv.catalog.renames(int(since) if since and since.isdigit() else None))
        if parts[1:] == ["health"]:
            return Response.json({"ok": True, "epoch": srv.catalog.epoch, "size": srv.catalog.size,
                                  "cdn": srv.cdn_url})
        return error_response(HubError(404, "NotFound", "Unknown fakehub endpoint"))

    def _write(self, resp: Response, head: bool, truncate: bool = False) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if "Content-Length" not in resp.headers:
            self.send_header("Content-Length", str(resp.length))
        self.end_headers()
        if head:
            return
        budget = resp.length // 2 if truncate else resp.length
        for chunk in resp.chunks:
            if budget <= 0:
                break
            self.wfile.write(chunk[:budget])
            budget -= len(chunk)
        if truncate:
            self.wfile.flush()
            self.close_connection = True
