"""Errors of the ZVT link: every one is an OSError, as the PaymentTerminal contract asks."""
from __future__ import annotations


class TerminalLinkError(OSError):
    """The line to the payment terminal failed; the outcome of a running transaction is
    unknown. If the terminal's result had already been delivered to `on_result` before the
    failure, it is attached as `.result` (otherwise `.result` is None)."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class TerminalTimeout(TerminalLinkError):
    """The terminal did not answer within a timeout (ACK, reply or overall)."""


class FrameError(TerminalLinkError):
    """A frame arrived damaged (CRC, DLE sequence, inter-byte gap); it is NAKed."""


class ZvtProtocolError(TerminalLinkError):
    """The terminal sent something the protocol does not allow at that point."""
