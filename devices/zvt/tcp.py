"""ZVT over TCP/IP: bare APDUs, back to back, on a reliable byte stream.

The ZVT transport protocol for TCP/IP (port 20007 by convention) carries each APDU as it
is — `class instr length data`, the length in its 1-byte or `FF lo hi` form — with no
DLE STX/ETX framing, no CRC and no ACK/NAK bytes: TCP already delivers the bytes intact
and in order. The application acknowledgements (`80 00 00`, `84 xx`) stay as they are.

`BareLink` offers the same calls as the serial `Link`, so the driver and the simulator
run either transport unchanged: `send` writes the APDU (nothing to wait for), `receive`
reads one APDU by its length, `ack`/`nak` send nothing. A stream cannot be resynchronised
after a broken APDU (a gap inside it, a length beyond what arrives): that is a
`FrameError` — a link error, after which the connection is opened afresh.
"""
from __future__ import annotations

import time
from typing import Callable

from .apdu import Apdu
from .errors import FrameError, TerminalTimeout
from .framing import ACK, ByteLink

__all__ = ["BareLink", "TRANSPORTS", "transport_for"]

TRANSPORTS = ("serial", "tcp")


def transport_for(url: str | None, choice: str | None = None) -> str:
    """The transport for a port URL: an explicit `choice` ("serial" or "tcp") wins;
    otherwise `socket://` means a network terminal (bare APDUs), anything else a serial
    line (DLE framing). A serial-to-network adapter that passes serial framing through
    is reached with `socket://…` and the choice "serial"."""
    if choice not in (None, "", "auto"):
        if choice not in TRANSPORTS:
            raise ValueError(f"ZVT transport must be one of {TRANSPORTS} or auto, got {choice!r}")
        return choice
    return "tcp" if isinstance(url, str) and url.startswith("socket://") else "serial"


class BareLink(ByteLink):
    """APDUs without framing over a Channel (a socket); see the module docstring."""

    def write_frame(self, apdu: bytes) -> None:
        self.frames_out += 1
        self.write(bytes(apdu))

    def read_frame(self, timeout: float) -> bytes:
        """The next APDU's bytes. TerminalTimeout if none starts within `timeout`;
        FrameError if one starts but does not arrive whole."""
        first = self._byte(max(0.0, timeout))
        if first is None:
            raise TerminalTimeout(f"no APDU within {timeout:g} s")
        raw = bytearray([first])
        raw += self._exactly(2)
        if raw[2] == 0xFF:
            raw += self._exactly(2)
            length = int.from_bytes(raw[3:5], "little")
        else:
            length = raw[2]
        raw += self._exactly(length)
        self.frames_in += 1
        self._last_in = bytes(raw)
        return self._last_in

    def _exactly(self, n: int) -> bytes:
        out = bytearray()
        deadline = time.monotonic() + max(self.inter_byte_timeout, 0.0)
        while len(out) < n:
            b = self._byte(max(0.0, deadline - time.monotonic()))
            if b is None:
                raise FrameError(f"APDU cut short: {len(out)} of {n} bytes came")
            out.append(b)
            deadline = time.monotonic() + self.inter_byte_timeout
        return bytes(out)

    def wait_ack(self, timeout: float,
                 implies_ack: Callable[[bytes], bool] | None = None) -> int:
        """TCP acknowledges delivery itself: nothing to wait for."""
        return ACK

    def send(self, apdu: bytes, implies_ack: Callable[[bytes], bool] | None = None) -> None:
        self.write_frame(apdu)

    def receive(self, timeout: float, ack: bool = True) -> Apdu:
        return Apdu.decode(self.read_frame(timeout))

    def ack(self) -> None:
        """No transport acknowledgement on TCP/IP."""

    def nak(self) -> None:
        """No transport acknowledgement on TCP/IP."""
