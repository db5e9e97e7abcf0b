"""Range reads the way the Hub's CDN needs them: `Accept-Encoding: identity`, and a `200` (the CDN ignored the
range) read only as far as needed, sized by the 302's `X-Linked-Size`, counted in the ledger."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import httpx2
import pytest
from hubcensus.crawler.hub import HubClient, make_client
from hubcensus.crawler.run import CrawlOptions, crawl
from hubcensus.db.connection import open_database
from hubcensus.fakehub.cdn import gzip_stored_length

SIZE = 512 << 20  # the weight file's size: 512 MiB (header + zeros, served lazily by fakehub)
ELEMS = (SIZE - 4096) // 4


def _header() -> bytes:
    meta = json.dumps({"w": {"dtype": "F32", "shape": [ELEMS], "data_offsets": [0, 4 * ELEMS]}}).encode()
    meta += b" " * (-(len(meta) + 8) % 8)
    return struct.pack("<Q", len(meta)) + meta


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    d = tmp_path / "repos" / "acme" / "big"
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(_header())  # stored: the header; served: padded to SIZE
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "hub.json").write_text(json.dumps({"file_sizes": {"model.safetensors": SIZE}}))
    return tmp_path / "repos"


def _gzip_asking(endpoint: str) -> HubClient:
    """The unmodified client on a session whose requests accept gzip (what dropping `identity` would do)."""
    def accept_gzip(request: httpx2.Request) -> None:
        request.headers["Accept-Encoding"] = "gzip, deflate"

    client = make_client(endpoint, None)
    return HubClient(endpoint, None, session=httpx2.Client(event_hooks={"request": [accept_gzip]}),
                     pacer=client.pacer)  # fmt: skip


def test_range_reads_send_identity_and_get_206(fakehub_server, big_repo: Path) -> None:
    hub = fakehub_server(repos=[big_repo], cdn_gzip_ignores_range=True)
    client = make_client(hub.url, None)
    answer = client.read_range("acme/big", "model.safetensors", 0, 7)
    assert answer.body == _header()[:8] and answer.total == SIZE
    assert client.counters()["range_ignored"] == 0
    snap = hub.stats.snapshot()
    assert snap["cdn_range"] == {"ignored": 0, "body_bytes": 0} and snap["by_status"].get(206) == 1


def test_a_200_is_read_only_as_far_as_needed_and_sized_by_x_linked_size(fakehub_server, big_repo: Path) -> None:
    hub = fakehub_server(repos=[big_repo], cdn_gzip_ignores_range=True)
    client = _gzip_asking(hub.url)
    header = _header()
    answer = client.read_range("acme/big", "model.safetensors", 8, len(header) - 1)
    assert answer.body == header[8:]
    assert answer.total == SIZE  # X-Linked-Size, not the 200's Content-Length:
    assert gzip_stored_length(SIZE) == SIZE + 18 + 5 * 8193
    assert client.counters()["range_ignored"] == 1
    again = client.read_range("acme/big", "model.safetensors", 0, 7)  # a fresh connection: the last was closed
    assert (again.body, again.total, client.range_ignored) == (header[:8], SIZE, 2)
    snap = hub.stats.snapshot()
    assert snap["cdn_range"]["ignored"] == 2
    print(f"body bytes handed to the sockets for two 200s of a {SIZE >> 20} MiB file: {snap['cdn_range']['body_bytes']:,}")
    assert snap["cdn_range"]["body_bytes"] < 2 * (24 << 20)  # socket buffers and one 1 MiB chunk, not 512 MiB


def test_the_counter_reaches_the_ledger(fakehub_server, big_repo: Path, tmp_path: Path) -> None:
    hub = fakehub_server(repos=[big_repo], cdn_gzip_ignores_range=True)
    client = _gzip_asking(hub.url)
    with open_database(tmp_path / "r.duckdb") as db:
        summary = crawl(db, client, CrawlOptions(deep="all"), handle_signals=False)
        row = db.con.execute(
            "SELECT status, range_ignored, headers_fetched FROM crawl_runs WHERE run_id = ?", [summary.run_id]
        ).fetchone()
        size = db.con.execute("SELECT size_bytes FROM safetensors_files WHERE model_id = 'acme/big'").fetchone()
    assert row == ("ok", client.range_ignored, 1) and client.range_ignored >= 1
    assert size == (SIZE,)
    assert "range reads answered with the whole file" in summary.line()
