"""Benchmark fakehub: start a big synthetic hub as a subprocess and print startup, latency, throughput, RSS.

.venv/bin/python bench/bench_fakehub.py [--n 2500000] [--threads 1 4 8] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hubcensus.crawler.walk.listing import EXPAND as LISTING_EXPAND
from hubcensus.fakehub.render import LIST_EXPAND_KEYS

EXPAND = [*(k for k in LISTING_EXPAND if k in LIST_EXPAND_KEYS), "author"]
"""What a hubcensus crawl asks for (the keys the listing accepts), plus one more key the Hub offers."""


def rss_mb(pid: int, key: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return float("nan")


def get(conn: http.client.HTTPConnection, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read(), dict(r.headers)


def list_path(limit: int, cursor: str | None = None, sort: str = "createdAt") -> str:
    q = [("sort", sort), ("limit", limit), *[("expand", e) for e in EXPAND]]
    if cursor:
        q.append(("cursor", cursor))
    return "/api/models?" + urlencode(q)


def throughput(host: str, port: int, threads: int, seconds: float, make_path) -> float:
    """Requests/s answered by `threads` keep-alive clients hammering paths from make_path(thread, i)."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def run(t: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        i = 0
        while time.perf_counter() < stop:
            path, headers = make_path(t, i)
            status, _, _ = get(conn, path, headers)
            assert status in (200, 206, 302), status
            i += 1
        counts[t] = i
        conn.close()

    start = time.perf_counter()
    ths = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return sum(counts) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2_500_000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcensus.fakehub", "serve", "--synthetic", str(args.n), "--seed", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip() if proc.stdout else ""
    startup = time.perf_counter() - t0
    url = line.removeprefix("fakehub listening on ")
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    print(
        f"fakehub --synthetic {args.n:,}: startup {startup:.2f} s (to the URL line), RSS {rss_mb(proc.pid, 'VmRSS'):.0f} MB"
    )
    try:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        t = time.perf_counter()
        status, body, headers = get(conn, list_path(1000))
        assert status == 200, status
        print(
            f"first page (1000 items, {len(EXPAND)} expand keys, sort=createdAt): {1000 * (time.perf_counter() - t):.1f} ms,"
            f" {len(body) / 1e6:.2f} MB"
        )
        lat = []
        cursor = headers["Link"].split("cursor=")[1].split(">")[0]
        for _ in range(20):
            t = time.perf_counter()
            _, body, headers = get(conn, list_path(1000, cursor))
            lat.append(time.perf_counter() - t)
            cursor = headers["Link"].split("cursor=")[1].split(">")[0]
        lat.sort()
        print(f"next 20 pages: median {1000 * lat[10]:.1f} ms, max {1000 * lat[-1]:.1f} ms")
        t = time.perf_counter()
        get(conn, list_path(1000, sort="lastModified"))
        print(f"first page sort=lastModified: {1000 * (time.perf_counter() - t):.1f} ms")
        t = time.perf_counter()
        get(conn, "/api/models?" + urlencode([("filter", "fp8"), ("limit", 1000), ("expand", "safetensors")]))
        print(
            f"first page filter=fp8 (vectorised filter over all rows): {1000 * (time.perf_counter() - t):.1f} ms"
        )
        ids = [i["id"] for i in json.loads(body)]
        files = []
        for mid in ids[:400]:
            _, info, _ = get(conn, f"/api/models/{mid}?expand=siblings&expand=gated")
            doc = json.loads(info)
            if not doc.get("gated"):
                files += [
                    f"/{mid}/resolve/main/{s['rfilename']}"
                    for s in doc["siblings"]
                    if s["rfilename"].endswith(".safetensors")
                ]
        cdn_paths = []
        for path in files[:200]:  # LFS files: resolve answers 302 to the CDN listener
            status, _, h = get(conn, path)
            assert status == 302, status
            cdn_paths.append(h["Location"].split("/", 3)[3])
        assert cdn_paths, "no LFS safetensors files among the first models"
        cdn = urlsplit(h["Location"])
        conn.close()
        for n in args.threads:
            rps = throughput(
                host,
                port,
                n,
                args.seconds,
                lambda t, i, n=n: (list_path(100, None, "lastModified") if i % 2 else list_path(100), None),
            )
            print(f"listing pages (limit=100, full expand), {n} client threads: {rps:,.0f} req/s")
        for n in args.threads:
            rps = throughput(host, port, n, args.seconds, lambda t, i, n=n: (list_path(1000), None))
            print(f"listing pages (limit=1000, full expand), {n} client threads: {rps:,.1f} req/s")
        rng = {"Range": "bytes=0-100000"}
        for n in args.threads:
            rps = throughput(
                host, port, n, args.seconds, lambda t, i, n=n: (files[(t * 7919 + i) % len(files)], rng)
            )
            print(f"resolve GETs (302 to the CDN) over {len(files)} files, {n} client threads: {rps:,.0f} req/s")
        for n in args.threads:
            rps = throughput(
                cdn.hostname or host,
                cdn.port or 80,
                n,
                args.seconds,
                lambda t, i, n=n: ("/" + cdn_paths[(t * 7919 + i) % len(cdn_paths)], rng),
            )
            print(f"CDN range GETs bytes=0-100000 over {len(cdn_paths)} files, {n} client threads: {rps:,.0f} req/s")
        print(f"server peak RSS (VmHWM): {rss_mb(proc.pid):.0f} MB; cpu count {os.cpu_count()}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
