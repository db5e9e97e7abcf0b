"""`python -m hubcensus.fakehub serve ...`: run a local Hugging Face Hub emulator until killed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from hubcensus.fakehub.app import UNLIMITED, FakeHubConfig, make_server
from hubcensus.fakehub.faults import FaultConfig

EPILOG = """\
examples:
  python -m hubcensus.fakehub serve --synthetic 100000 --seed 1
  python -m hubcensus.fakehub serve --repos tests/fixtures/hub --port 8080
  python -m hubcensus.fakehub serve --synthetic 5000 --quota-api 500 --window-s 300 --fail-rate 0.05
  HF_ENDPOINT=http://127.0.0.1:8080 python -c "from huggingface_hub import HfApi; print(HfApi().model_info('org/name'))"

The first stdout line is exactly `fakehub listening on http://HOST:PORT` (use --port 0 for a free port);
the second `fakehub cdn on http://HOST:PORT2`, the listener LFS downloads are redirected to.
GET /_fakehub/stats returns request counts; GET /_fakehub/truth?id=ORG/NAME returns the generator's truth;
neither counts against the quotas.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fakehub", description="A local emulator of the Hugging Face Hub HTTP API.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve until SIGTERM/SIGINT", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    s.add_argument("--repos", action="append", default=[], metavar="DIR",
                   help="serve real repos laid out DIR/<org>/<name>/<path> (+ optional hub.json); repeatable")
    s.add_argument("--synthetic", type=int, default=0, metavar="N", help="add N seeded synthetic models")
    s.add_argument("--seed", type=int, default=0, help="synthetic catalog seed (default 0)")
    s.add_argument("--epoch", type=int, default=0, metavar="K",
                   help="serve the catalog K days after 2026-11-01: updated, new and deleted models")
    s.add_argument("--hostile", action="store_true", help="add repos with hostile safetensors headers (fakehub-hostile/*)")
    s.add_argument("--hostile-pickle", action="store_true",
                   help="add repos with hostile pytorch_model.bin files (fakehub-hostile-pickle/*)")
    s.add_argument("--gguf", action="store_true",
                   help="add synthetic GGUF repos (fakehub-gguf/*: variants, splits, v1/v2, big-endian, hostile)")
    s.add_argument("--cdn-gzip-ignores-range", action="store_true",
                   help="the CDN answers a range read that accepts gzip with 200 + the whole file (#3778)")
    s.add_argument("--cdn-port", type=int, default=0, help="port of the CDN listener LFS files redirect to (0 = free)")
    s.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    s.add_argument("--quota-api", type=int, default=UNLIMITED, help="api requests per window (/api/...)")
    s.add_argument("--quota-resolvers", type=int, default=UNLIMITED, help="resolver requests per window (/resolve/, /raw/)")
    s.add_argument("--window-s", type=int, default=300, help="rate-limit window in seconds (default 300)")
    s.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests answered 500/502/503/504")
    s.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections closed without a response")
    s.add_argument("--truncate-rate", type=float, default=0.0, help="fraction of bodies cut short (then closed)")
    s.add_argument("--fault-seed", type=int, default=0, help="seed of the fault decisions (per method, URL, attempt)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = FakeHubConfig(
        host=args.host, port=args.port, repos=args.repos, synthetic=args.synthetic, seed=args.seed,
        epoch=args.epoch, hostile=args.hostile, hostile_pickle=args.hostile_pickle, gguf=args.gguf,
        quota_api=args.quota_api, quota_resolvers=args.quota_resolvers, window_s=args.window_s, cdn_port=args.cdn_port,
        cdn_gzip_ignores_range=args.cdn_gzip_ignores_range,
        faults=FaultConfig(latency_ms=args.latency_ms, fail_rate=args.fail_rate, drop_rate=args.drop_rate,
                           truncate_rate=args.truncate_rate, seed=args.fault_seed))
    server = make_server(cfg)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fakehub listening on {server.url}", flush=True)
    print(f"fakehub cdn on {server.cdn_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
