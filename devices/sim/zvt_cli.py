"""`python -m devices.sim.zvt`: the ZVT terminal simulator on a pty or a TCP port."""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from devices.sim import add_where
from devices.sim.zvt import Script, ZvtSimulator

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.zvt",
                                     description="ZVT payment terminal simulator")
    add_where(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--framing", choices=("tcp", "serial", "auto"), default="tcp",
                        help="with --tcp: bare APDUs (ZVT TCP/IP, default), serial framing, "
                             "or either by the first byte")
    parser.add_argument("--default", default="approve", metavar="SPEC",
                        help="script for every transaction (see Script.parse)")
    parser.add_argument("--script", action="append", default=[], metavar="SPEC",
                        help="script for the next transaction (repeatable, in order)")
    parser.add_argument("--terminal-id", default="52000001")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        stream=sys.stderr)
    sim = ZvtSimulator(terminal_id=args.terminal_id, default=Script.parse(args.default))
    sim.queue(*(Script.parse(s) for s in args.script))
    if args.pty:
        print(sim.serve_pty(), flush=True)
    else:
        host, port = sim.serve_tcp(args.tcp, args.host, framing=args.framing)
        print(f"socket://{host}:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0
