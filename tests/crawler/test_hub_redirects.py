"""hub.py follows the Hub's redirects by hand: a relative 3xx on the Hub, then the 302 of an LFS file to
another host (the CDN), as HUB_API.md describes. Two loopback listeners play the Hub and the CDN."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from hubcensus.crawler.hub import HubError, make_client
from hubcensus.crawler.pacing import RetryPolicy
from huggingface_hub import get_session

DATA = bytes(range(256)) * 40  # the "file" the CDN serves: 10,240 bytes
TOKEN = "hf_redirect_secret"


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]
    cdn_port: int

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> None:
        self.seen.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                          "range": self.headers.get("Range")})  # fmt: skip

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class _Hub(_Recorder):
    limit: ClassVar[dict[str, str]] = {
        "RateLimit": '"resolvers";r=2999;t=250',
        "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300',
    }

    def do_GET(self) -> None:
        self._record()
        if self.path == "/old/name/resolve/main/model.safetensors":  # a renamed repo: relative 307
            self._send(307, {"Location": "/org/name/resolve/main/model.safetensors", **self.limit})
        elif self.path == "/org/name/resolve/main/model.safetensors":  # LFS: 302 to the CDN
            location = f"http://127.0.0.1:{self.cdn_port}/xet/abc?sig=1"
            self._send(302, {"Location": location, "X-Linked-Size": str(len(DATA)), "X-Repo-Commit": "a" * 40,
                             **self.limit})  # fmt: skip
        else:
            self._send(404, {"X-Error-Code": "EntryNotFound"})


class _Cdn(_Recorder):
    def do_GET(self) -> None:
        self._record()
        start, end = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
        end = min(end, len(DATA) - 1)
        self._send(206, {"Content-Range": f"bytes {start}-{end}/{len(DATA)}"}, DATA[start : end + 1])


@pytest.fixture
def hub_and_cdn() -> Iterator[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    hub_seen: list[dict[str, Any]] = []
    cdn_seen: list[dict[str, Any]] = []
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), type("Cdn", (_Cdn,), {"seen": cdn_seen}))
    hub = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Hub", (_Hub,), {"seen": hub_seen, "cdn_port": cdn.server_address[1]})
    )
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (hub, cdn)]
    for t in threads:
        t.start()
    try:
        yield f"http://127.0.0.1:{hub.server_address[1]}", hub_seen, cdn_seen
    finally:
        for s in (hub, cdn):
            s.shutdown()
            s.server_close()


def test_cdn_hop_carries_range_but_no_token_and_is_not_hub_quota(hub_and_cdn) -> None:
    url, hub_seen, cdn_seen = hub_and_cdn
    client = make_client(url, TOKEN)
    answer = client.read_range("old/name", "model.safetensors", 100, 299)
    assert (answer.body, answer.total) == (DATA[100:300], len(DATA))
    assert [(s["path"], s["authorization"], s["range"]) for s in hub_seen] == [
        ("/old/name/resolve/main/model.safetensors", f"Bearer {TOKEN}", "bytes=100-299"),
        ("/org/name/resolve/main/model.safetensors", f"Bearer {TOKEN}", "bytes=100-299"),
    ]
    assert [(s["path"], s["authorization"], s["range"]) for s in cdn_seen] == [
        ("/xet/abc?sig=1", None, "bytes=100-299")
    ]
    # the 307 on the Hub is a second resolver request; the CDN is outside the Hub's quota
    assert client.counters()["requests_resolvers"] == 2 and client.offhost == 1
    limit, policy = client.pacer.snapshot("resolvers")
    assert (limit.remaining, policy.quota) == (
        2999,
        3000,
    )  # the CDN's answer (no RateLimit) re-planned nothing


def test_size_from_the_302_when_the_cdn_states_none(hub_and_cdn, monkeypatch) -> None:
    url, _, _ = hub_and_cdn
    monkeypatch.setattr(_Cdn, "_send", lambda self, status, headers, body=b"": _Recorder._send(
        self, status, {k: v for k, v in headers.items() if k != "Content-Range"}, body))  # fmt: skip
    answer = make_client(url, None).read_range("org/name", "model.safetensors", 0, 7)
    assert (answer.body, answer.total) == (DATA[:8], len(DATA))  # X-Linked-Size of the resolve 302


def test_huggingface_hub_session_also_drops_the_token_across_hosts(hub_and_cdn) -> None:
    """What the library does by itself (httpx2 strips Authorization on a change of origin); hub.py does
    not rely on it, but both agree."""
    url, _, cdn_seen = hub_and_cdn
    response = get_session().get(
        f"{url}/org/name/resolve/main/model.safetensors",
        headers={"Authorization": f"Bearer {TOKEN}", "Range": "bytes=0-3"},
    )
    assert (response.status_code, response.content) == (206, DATA[:4])
    assert [(s["authorization"], s["range"]) for s in cdn_seen] == [(None, "bytes=0-3")]


def test_a_cdn_refusal_is_retried_and_never_taken_for_the_hubs_word(hub_and_cdn, monkeypatch) -> None:
    url, hub_seen, cdn_seen = hub_and_cdn
    monkeypatch.setattr(_Cdn, "do_GET", lambda self: (self._record(), self._send(403, {}, b"<Error/>")))
    client = make_client(url, None, retry=RetryPolicy(retries=1, base=0.01, cap=0.01))
    with pytest.raises(HubError) as caught:
        client.read_range("org/name", "model.safetensors", 0, 7)
    assert caught.value.status is None and "CDN answered 403" in str(caught.value)  # not a permanent 403
    assert (len(hub_seen), len(cdn_seen), client.retries) == (2, 2, 1)  # each try starts again at resolve
