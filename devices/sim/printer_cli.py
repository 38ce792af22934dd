"""`python -m devices.sim.printer`: the ESC/POS printer simulator on a pty or a TCP port,
taking control commands on stdin or a TCP control port."""
from __future__ import annotations

import argparse
import time

from devices.sim import add_where, answer_commands
from devices.sim.printer import PrinterSim

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.printer",
                                     description="ESC/POS 58 mm receipt printer simulator")
    add_where(parser)
    parser.add_argument("--out", required=True, help="directory for the job PNGs")
    parser.add_argument("--idle-gap", type=float, default=1.0,
                        help="seconds without data that end a job without a cut")
    parser.add_argument("--control", type=int, metavar="PORT",
                        help="also take commands on this TCP port")
    args = parser.parse_args(argv)
    sim = PrinterSim(args.out, idle_gap=args.idle_gap)
    if args.pty:
        print(sim.serve_pty(), flush=True)
    else:
        host, port = sim.serve_tcp(args.tcp)
        print(f"socket://{host}:{port}", flush=True)
    if args.control is not None:
        host, port = sim.serve_control(args.control)
        print(f"control on {host}:{port}", flush=True)
    try:
        answer_commands(sim)
        while not sim._stop.is_set():  # stdin closed: keep serving until killed
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
        for job in sim.jobs:
            print(f"printed {job.path}{' (partial)' if job.partial else ''}", flush=True)
    return 0
