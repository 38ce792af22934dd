"""Simulators of the card payment terminal, the receipt printer and the GPS receiver on
pseudo-terminals or TCP ports, and what they share: where to listen, closing their pty
ends, and the stdin command loop of their command lines."""
import os
import sys


def add_where(parser) -> None:
    """The simulators' common choice of where to listen: `--pty` or `--tcp PORT`."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve a new pty; print its path")
    where.add_argument("--tcp", type=int, metavar="PORT",
                       help="serve a TCP port (0: any free one); print its URL")


def close_fds(fds: list[int]) -> None:
    """Close a simulator's pty ends (one already closed is no error) and forget them."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


def answer_commands(sim, lines=None) -> None:
    """Answer each non-empty line (stdin by default) with `sim.command(line)` until the
    input ends or the simulator stops."""
    for line in sys.stdin if lines is None else lines:
        if line.strip():
            print(sim.command(line), flush=True)
        if sim._stop.is_set():
            break
