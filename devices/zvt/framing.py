"""ZVT serial framing and link layer: DLE stuffing, CRC-16/KERMIT, ACK/NAK with resend.

Frame: `10 02` + APDU with every `10` doubled + `10 03` + CRC (low byte first), the CRC
being CRC-16/KERMIT over the unstuffed APDU followed by the ETX byte `03`. The receiver
answers every frame with one byte, ACK `06` or NAK `15`; the sender repeats on NAK or a
missing ACK, `max_tries` sends in all. The same `Link` serves the driver (ECR) and the
simulator (PT); a `Channel` supplies bytes from a serial port, a pty or a socket.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Protocol

from .apdu import Apdu, ApduError
from .errors import FrameError, TerminalLinkError, TerminalTimeout

__all__ = ["DLE", "STX", "ETX", "ACK", "NAK", "crc16_kermit", "stuff", "encode_frame",
           "decode_frame", "Channel", "SerialChannel", "ByteLink", "Link"]

DLE, STX, ETX, ACK, NAK = 0x10, 0x02, 0x03, 0x06, 0x15


def crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT: reflected poly 0x1021 (0x8408), init 0, no final xor."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def stuff(apdu: bytes) -> bytes:
    """Double every DLE byte."""
    return bytes(apdu).replace(b"\x10", b"\x10\x10")


def encode_frame(apdu: bytes) -> bytes:
    """The complete frame for an encoded APDU."""
    crc = crc16_kermit(bytes(apdu) + b"\x03")
    return b"\x10\x02" + stuff(apdu) + b"\x10\x03" + crc.to_bytes(2, "little")


def decode_frame(frame: bytes) -> bytes:
    """The APDU bytes inside one complete frame; FrameError if it is damaged."""
    frame = bytes(frame)
    if frame[:2] != b"\x10\x02" or len(frame) < 6 or frame[-4:-2] != b"\x10\x03":
        raise FrameError(f"not a ZVT frame: {frame[:8].hex().upper()}…")
    body = frame[2:-4]
    apdu = bytearray()
    i = 0
    while i < len(body):
        if body[i] == DLE:
            if i + 1 >= len(body) or body[i + 1] != DLE:
                raise FrameError("lone DLE inside frame")
            i += 1
        apdu.append(body[i])
        i += 1
    if crc16_kermit(bytes(apdu) + b"\x03") != int.from_bytes(frame[-2:], "little"):
        raise FrameError("CRC mismatch")
    return bytes(apdu)


class Channel(Protocol):
    """Byte transport under the link."""

    def read_some(self, timeout: float) -> bytes:
        """Whatever bytes arrive within `timeout` seconds (at least one), or b"" on timeout."""

    def write(self, data: bytes) -> None: ...


class SerialChannel:
    """A Channel over a pyserial-compatible port.

    Blocking mode (default): the port's read timeout is a short slice and reads return as
    soon as a byte arrives. Polling mode (`poll_interval` set) is the naive alternative the
    benchmark compares against: sleep, look at `in_waiting`, repeat.
    """

    def __init__(self, port, poll_interval: float | None = None, slice_s: float = 0.05):
        self.port = port
        self.poll_interval = poll_interval
        if poll_interval is None:
            port.timeout = slice_s
        else:
            port.timeout = 0

    def read_some(self, timeout: float) -> bytes:
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            if self.poll_interval is not None:
                while True:
                    n = self.port.in_waiting
                    if n:
                        return self.port.read(n)
                    if time.monotonic() >= deadline:
                        return b""
                    time.sleep(self.poll_interval)
            while True:
                data = self.port.read(1)
                if data:
                    n = self.port.in_waiting
                    return data + self.port.read(n) if n else data
                if time.monotonic() >= deadline:
                    return b""
        except OSError as exc:
            raise TerminalLinkError(f"serial read failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        # No flush(): tcdrain would wait on a pty nobody reads; the kernel queues the bytes
        # and write_timeout bounds a stuck line.
        try:
            self.port.write(data)
        except OSError as exc:
            raise TerminalLinkError(f"serial write failed: {exc}") from exc

    def discard_input(self) -> None:
        try:
            self.port.reset_input_buffer()
        except OSError as exc:
            raise TerminalLinkError(f"serial reset failed: {exc}") from exc


class ByteLink:
    """What every ZVT transport shares: bytes from a Channel, counters, drain and discard.
    `Link` (serial framing) and `devices.zvt.tcp.BareLink` (TCP/IP) build on it; both offer
    `send`, `receive`, `ack`, `nak`, `read_frame`, `write_frame` and `wait_ack`."""

    def __init__(self, channel, *, ack_timeout: float = 5.0, inter_byte_timeout: float = 0.2,
                 max_tries: int = 3):
        self.channel = channel
        self.ack_timeout = ack_timeout
        self.inter_byte_timeout = inter_byte_timeout
        self.max_tries = max_tries
        self._pending = bytearray()
        self._held: deque[bytes] = deque()  # good frames that came while awaiting an ACK
        self._last_in: bytes | None = None  # the last frame received (to spot repeats)
        self.frames_out = self.frames_in = self.bytes_out = self.bytes_in = 0

    # -- bytes ---------------------------------------------------------------------------
    def _byte(self, timeout: float) -> int | None:
        if not self._pending:
            data = self.channel.read_some(timeout)
            if not data:
                return None
            self.bytes_in += len(data)
            self._pending += data
        return self._pending.pop(0)

    def _unget(self, b: int) -> None:
        self._pending.insert(0, b)

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.channel.write(data)

    def drain(self, quiet: float | None = None) -> int:
        """Discard input until the line has been quiet for `quiet` seconds."""
        quiet = self.inter_byte_timeout if quiet is None else quiet
        n = len(self._pending)
        self._pending.clear()
        while True:
            data = self.channel.read_some(quiet)
            if not data:
                return n
            self.bytes_in += len(data)
            n += len(data)

    def discard_input(self) -> None:
        """Forget stale input before a new command (buffered bytes and the OS buffer)."""
        self._pending.clear()
        self._held.clear()
        self._last_in = None
        discard = getattr(self.channel, "discard_input", None)
        if discard:
            discard()


class Link(ByteLink):
    """Serial transport: frames over a Channel, with ACK/NAK, resend and timeouts (s)."""

    # -- frames --------------------------------------------------------------------------
    def write_frame(self, apdu: bytes) -> None:
        self.frames_out += 1
        self.write(encode_frame(apdu))

    def read_frame(self, timeout: float) -> bytes:
        """The next frame's APDU bytes. TerminalTimeout if no frame starts within `timeout`;
        FrameError if it is damaged (the caller NAKs)."""
        if self._held:
            return self._held.popleft()
        return self._read_wire(timeout)

    def _read_wire(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        prev = None
        while True:
            b = self._byte(max(0.0, deadline - time.monotonic()))
            if b is None:
                raise TerminalTimeout(f"no frame within {timeout:g} s")
            if prev == DLE and b == STX:
                break
            prev = None if (prev == DLE and b == DLE) else b
        apdu = bytearray()
        ib = self.inter_byte_timeout
        while True:
            b = self._byte(ib)
            if b is None:
                raise FrameError("inter-byte timeout inside a frame")
            if b != DLE:
                apdu.append(b)
                continue
            b2 = self._byte(ib)
            if b2 is None:
                raise FrameError("inter-byte timeout inside a frame")
            if b2 == DLE:
                apdu.append(DLE)
            elif b2 == ETX:
                break
            elif b2 == STX:  # a new frame started: the previous one was cut short
                apdu.clear()
            else:
                raise FrameError(f"bad DLE sequence 10 {b2:02X}")
        lo, hi = self._byte(ib), self._byte(ib)
        if lo is None or hi is None:
            raise FrameError("inter-byte timeout in CRC")
        self.frames_in += 1
        if crc16_kermit(bytes(apdu) + b"\x03") != lo | (hi << 8):
            raise FrameError("CRC mismatch")
        self._last_in = bytes(apdu)
        return self._last_in

    def wait_ack(self, timeout: float,
                 implies_ack: Callable[[bytes], bool] | None = None) -> int | None:
        """ACK or NAK byte, or None if neither arrives within `timeout`.

        A frame arriving instead is either the peer repeating the frame we last received
        (our ACK for it was lost or late): acknowledged again and dropped; or the peer's
        next frame, which it can only send once it has our frame (its ACK was lost): kept
        for the next `read_frame`, unacknowledged, and taken as the ACK. `implies_ack`
        narrows which frames count as such (others are acknowledged and dropped); a frame
        received right after `discard_input` is never taken for a repeat."""
        deadline = time.monotonic() + timeout
        while True:
            b = self._byte(max(0.0, deadline - time.monotonic()))
            if b is None:
                return None
            if b in (ACK, NAK):
                return b
            if b == DLE:
                self._unget(b)
                previous = self._last_in
                try:
                    raw = self._read_wire(self.inter_byte_timeout)
                except FrameError:
                    continue
                except TerminalTimeout:
                    return None
                if raw != previous and (implies_ack is None or implies_ack(raw)):
                    self._held.append(raw)
                    return ACK
                self._last_in = previous
                self.ack()

    def send(self, apdu: bytes, implies_ack: Callable[[bytes], bool] | None = None) -> None:
        """Send one APDU and wait for its ACK, resending on NAK or silence."""
        last = None
        for _ in range(self.max_tries):
            self.write_frame(apdu)
            last = self.wait_ack(self.ack_timeout, implies_ack)
            if last == ACK:
                return
        if last == NAK:
            raise TerminalLinkError(f"frame NAKed {self.max_tries} times")
        raise TerminalTimeout(f"no ACK after {self.max_tries} tries")

    def receive(self, timeout: float, ack: bool = True) -> Apdu:
        """The next good APDU; damaged frames are NAKed (the peer resends).

        With `ack=False` the caller must call `ack()` itself — used to persist a result
        before the terminal learns that it was received.
        """
        deadline = time.monotonic() + timeout
        for _ in range(self.max_tries):
            try:
                raw = self.read_frame(max(0.0, deadline - time.monotonic()))
                apdu = Apdu.decode(raw)
            except (FrameError, ApduError):
                self.drain()
                self.write(bytes([NAK]))
                continue
            if ack:
                self.ack()
            return apdu
        raise TerminalLinkError(f"{self.max_tries} damaged frames in a row")

    def ack(self) -> None:
        self.write(bytes([ACK]))

    def nak(self) -> None:
        self.write(bytes([NAK]))
