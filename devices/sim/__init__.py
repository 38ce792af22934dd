"""Simulators of the card payment terminal and the receipt printer on pseudo-terminals
or TCP ports."""


def add_where(parser) -> None:
    """The simulators' common choice of where to listen: `--pty` or `--tcp PORT`."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve a new pty; print its path")
    where.add_argument("--tcp", type=int, metavar="PORT",
                       help="serve a TCP port (0: any free one); print its URL")
