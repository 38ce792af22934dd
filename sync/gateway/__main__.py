"""Run the gateway: `python -m sync.gateway --db PATH [--seed-demo] [--host H] [--port P]`.

Options: `--db-url URL` instead of `--db` (e.g. `postgresql+psycopg://user@host/chaoshou`),
`--demo-accounts N` (default 1200), `--bench-route-accounts N` (adds route R900 with N
accounts from `demo_data.fake_accounts`), `--snapshot-ttl S`, `--change-retention S`,
`--min-client-version V` (a request with header `X-Client-Version` below V gets 426),
`--platform-key KEY` (header `X-Platform-Key` of third-party notifications; default
`demo-platform-key`, or env CHAOSHOU_PLATFORM_KEY), `--pin-iterations N` (demo PIN hashes).

Fault hook for sync-client tests: `--fault-after-commit N` or the environment variable
`CHAOSHOU_GATEWAY_FAULT=crash_after_commit:N` makes the process exit immediately
(`os._exit(75)`) after the N-th ops batch has been committed, before the response is sent
— the "server committed but never answered" fault.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from sync.gateway.app import create_app
from sync.gateway.context import Settings


def parse_fault(value: str | None) -> int | None:
    if not value:
        return None
    kind, _, n = value.partition(":")
    if kind != "crash_after_commit" or not n.isdigit():
        raise SystemExit(f"bad CHAOSHOU_GATEWAY_FAULT {value!r}; use crash_after_commit:N")
    return int(n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sync.gateway", description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="SQLite database file")
    where.add_argument("--db-url", help="SQLAlchemy database URL")
    ap.add_argument("--seed-demo", action="store_true")
    ap.add_argument("--demo-accounts", type=int, default=1200)
    ap.add_argument("--bench-route-accounts", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8700)
    ap.add_argument("--snapshot-ttl", type=int, default=3600)
    ap.add_argument("--change-retention", type=int, default=60 * 24 * 3600)
    ap.add_argument("--platform-key", default=os.environ.get("CHAOSHOU_PLATFORM_KEY",
                                                             "demo-platform-key"))
    ap.add_argument("--pin-iterations", type=int, default=None)
    ap.add_argument("--fault-after-commit", type=int, default=None)
    ap.add_argument("--min-client-version", default=None,
                    help="answer 426 to clients whose X-Client-Version is lower")
    ap.add_argument("--no-group-commit", action="store_true",
                    help="one transaction per ops batch (for comparison)")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    fault = args.fault_after_commit or parse_fault(os.environ.get("CHAOSHOU_GATEWAY_FAULT"))
    url = args.db_url or "sqlite:///" + str(Path(args.db).resolve())
    settings = Settings(snapshot_ttl_s=args.snapshot_ttl,
                        change_retention_s=args.change_retention,
                        platform_key=args.platform_key, fault_after_commit=fault,
                        min_client_version=args.min_client_version,
                        group_commit=not args.no_group_commit)
    app = create_app(url, seed_demo=args.seed_demo, settings=settings,
                     demo_accounts=args.demo_accounts,
                     bench_route_accounts=args.bench_route_accounts,
                     pin_iterations=args.pin_iterations)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
