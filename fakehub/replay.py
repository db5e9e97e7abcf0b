"""A strict replay of recorded Hub answers on 127.0.0.1: what was recorded, and an error for anything else.

fakehub answers every route it knows; this answers only what a moment directory
holds (`../shared/fixtures/replay/<moment>/responses.json`), so a crawler that asks an
unlisted route, a page that was not recorded, or an `expand` key the Hub refuses,
fails. What it adds to the recordings is only what the Hub does to every request:

- `/api/models`: `expand` keys are checked against the keys the listing accepts
  (HUB_API.md); a refused or unknown key answers 400 `{"error": "\"expand\" must be
  one of [...]"}` like the Hub. Items are cut to `_id`, `id` and the expanded
  fields. A recorded page is served for any `limit` at least its length, and its
  `Link: <...>; rel="next"` echoes the request with the recorded next cursor.
- `/api/models/{id}`: the same check with the keys only this route takes
  (`baseModels`, `childrenModelCount`, `usedStorage`); 3xx answers are served as
  recorded (relative `Location`).

Anything else answers 404 `{"error": "replay: no recording for ..."}` and is kept
in `ReplayHub.unmatched` for the test to assert on.

`responses.json`: `{"origin": "...", "responses": [{"method", "path", "params"
(listing filters, exact), "cursor", "next_cursor", "status", "headers", "body_file"
| "text"}, ...]}`; bodies are JSON files beside it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

LISTING_EXPAND: tuple[str, ...] = (
    "author", "cardData", "config", "createdAt", "disabled", "downloads", "downloadsAllTime", "evalResults",
    "gated", "gguf", "inference", "inferenceProviderMapping", "lastModified", "library_name", "likes",
    "mask_token", "model-index", "pipeline_tag", "private", "resourceGroup", "safetensors", "sha", "siblings",
    "spaces", "tags", "transformersInfo", "trendingScore", "widgetData",
)  # fmt: skip
"""`expand` keys `/api/models` accepts (HUB_API.md)."""

INFO_ONLY_EXPAND: tuple[str, ...] = ("baseModels", "childrenModelCount", "usedStorage")
"""Keys only `/api/models/{id}` accepts: the listing answers them with 400."""

ALWAYS = ("_id", "id")
"""Fields every item carries, whatever is expanded."""

_PAGE_PARAMS = frozenset({"expand", "expand[]", "limit", "cursor"})


def expand_error(accepted: tuple[str, ...]) -> dict[str, str]:
    """The Hub's 400 body for a refused `expand` key."""
    return {"error": f'"expand" must be one of [{", ".join(accepted)}]'}


@dataclass
class Recorded:
    """One recorded answer."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any = None
    text: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None
    next_cursor: str | None = None


def load_moment(directory: str | Path) -> list[Recorded]:
    """The recordings of one moment directory."""
    root = Path(directory)
    spec = json.loads((root / "responses.json").read_text(encoding="utf-8"))
    out = []
    for entry in spec["responses"]:
        body = None
        if entry.get("body_file"):
            body = json.loads((root / entry["body_file"]).read_text(encoding="utf-8"))
        out.append(
            Recorded(
                method=entry.get("method", "GET"), path=entry["path"], status=int(entry.get("status", 200)),
                headers=dict(entry.get("headers") or {}), body=body, text=entry.get("text"),
                params=dict(entry.get("params") or {}), cursor=entry.get("cursor"),
                next_cursor=entry.get("next_cursor"),
            )
        )
    return out


class ReplayServer(ThreadingHTTPServer):
    """Serves one moment's recordings; `requests` and `unmatched` are what clients asked."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], recordings: list[Recorded]) -> None:
        super().__init__(address, _Handler)
        self.recordings = recordings
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.unmatched: list[str] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, method: str, target: str, host: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request."""
        url = urlsplit(target)
        path = unquote(url.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        with self.lock:
            self.requests.append(f"{method} {target}")
        expand = [e for k, v in params if k in ("expand", "expand[]") for e in v.split(",") if e]
        if path == "/api/models":
            return self._listing(method, target, params, expand, host)
        if path.startswith("/api/models/"):
            accepted = (*LISTING_EXPAND, *INFO_ONLY_EXPAND)
            if any(e not in accepted for e in expand):
                return _json(400, expand_error(accepted))
            for rec in self.recordings:
                if rec.method == method and rec.path == path:
                    return self._serve(rec, expand)
        return self._unmatched(method, target)

    def _listing(
        self, method: str, target: str, params: list[tuple[str, str]], expand: list[str], host: str
    ) -> tuple[int, dict[str, str], bytes]:
        if any(e not in LISTING_EXPAND for e in expand):
            return _json(400, expand_error(LISTING_EXPAND))
        flags = {k for k, v in params if k in ("full", "config", "cardData") and v.lower() in ("1", "true")}
        if expand and flags:
            return _json(400, {"error": "`expand` cannot be combined with `full`, `config` or `cardData`"})
        one = {k: v for k, v in params if k not in _PAGE_PARAMS}
        cursor = next((v for k, v in params if k == "cursor"), None)
        limit = int(next((v for k, v in params if k == "limit"), "1000") or 1000)
        for rec in self.recordings:
            if rec.method != method or rec.path != "/api/models" or rec.params != one or rec.cursor != cursor:
                continue
            if isinstance(rec.body, list) and limit < len(rec.body):
                break  # a page of another size was never recorded
            status, headers, body = self._serve(rec, expand)
            if rec.next_cursor:
                kept = [(k, v) for k, v in params if k != "cursor"] + [("cursor", rec.next_cursor)]
                headers["Link"] = f'<http://{host}/api/models?{urlencode(kept)}>; rel="next"'
            return status, headers, body
        return self._unmatched(method, target)

    def _serve(self, rec: Recorded, expand: list[str]) -> tuple[int, dict[str, str], bytes]:
        headers = dict(rec.headers)
        if rec.text is not None:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return rec.status, headers, rec.text.encode()
        body = rec.body
        if expand:
            keep = {*ALWAYS, *expand}
            if isinstance(body, list):
                body = [{k: v for k, v in item.items() if k in keep} for item in body]
            elif isinstance(body, dict):
                body = {k: v for k, v in body.items() if k in keep}
        status, base, data = _json(rec.status, body)
        return status, {**base, **headers}, data

    def _unmatched(self, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.unmatched.append(f"{method} {target}")
        return _json(404, {"error": f"replay: no recording for {method} {target}"})


def _json(status: int, obj: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(obj).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, method: str) -> None:
        status, headers, body = self.server.answer(method, self.path, self.headers.get("Host", "127.0.0.1"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply("GET")

    def do_HEAD(self) -> None:
        self._reply("HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._reply("POST")


class ReplayHub:
    """A replay server on a background thread (context manager); `url`, `requests`, `unmatched`."""

    def __init__(self, directory: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ReplayServer((host, port), load_moment(directory))
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay", daemon=True)  # fmt: skip
        self._thread.start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[str]:
        return list(self.server.requests)

    @property
    def unmatched(self) -> list[str]:
        return list(self.server.unmatched)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
