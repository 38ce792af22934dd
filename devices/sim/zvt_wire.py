"""The ZVT simulator's side of the line: a stoppable channel over a raw file descriptor
(pty master or socket) and the conditions that end a transaction or a connection."""
from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty

from devices.sim import close_fds
from devices.zvt.framing import DLE

__all__ = ["EcrGone", "Closed", "FdChannel", "SimServer", "is_reply"]


class EcrGone(Exception):
    """The ECR stopped answering; the transaction ends on the PT side."""


class Closed(Exception):
    """The connection went away (TCP client closed)."""


class FdChannel:
    """Channel over a raw file descriptor (pty master or socket), stoppable."""

    def __init__(self, fd: int, stop: threading.Event):
        self.fd = fd
        self.stop = stop

    def read_some(self, timeout: float) -> bytes:
        end = now() + max(0.0, timeout)
        while not self.stop.is_set():
            wait = min(0.05, max(0.0, end - now()))
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError as exc:
                    raise Closed(str(exc)) from exc
                if not data:
                    raise Closed("peer closed")
                return data
            if now() >= end:
                return b""
        raise Closed("simulator stopping")

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.stop.is_set():  # after close() the fd number may belong to someone else
                raise Closed("simulator stopping")
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)
                continue
            except OSError as exc:
                raise Closed(str(exc)) from exc
            view = view[n:]


def now() -> float:
    return time.monotonic()


def is_reply(raw: bytes) -> bool:
    """An ECR frame that answers a PT message (so it proves the message arrived); any
    other frame while the PT is master is acknowledged and ignored, as a PT does."""
    return raw[:2] in (b"\x80\x00", b"\x06\xB0") or raw[:1] == b"\x84"


class SimServer:
    """Where the simulator listens: a pty or a TCP port, served in a thread. A subclass
    sets the attributes used here in its __init__ and serves one connection in
    `_serve_fd(fd, framing)`."""

    def serve_pty(self) -> str:
        """Serve one end of a new pseudo-terminal in a thread; return the slave path.

        The simulator keeps the slave fd open too, so the master never sees EIO while no
        driver has the port open (drivers come and go; a killed app leaves no hole)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        self.path = os.ttyname(slave)
        self._start(lambda: self._serve_fd(master))
        return self.path

    def serve_tcp(self, port: int = 0, host: str = "127.0.0.1",
                  framing: str = "tcp") -> tuple[str, int]:
        """Serve TCP clients one at a time in a thread; return (host, port). `framing` is
        "tcp" (bare APDUs), "serial" (DLE framing over TCP) or "auto" (by the first byte
        of each connection)."""
        if framing not in ("tcp", "serial", "auto"):
            raise ValueError(f"framing must be tcp, serial or auto, got {framing!r}")
        self._tcp_framing = framing
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen(1)
        server.settimeout(0.1)
        self._server = server
        self.address = server.getsockname()[:2]
        self._start(self._serve_tcp)
        return self.address

    def _start(self, target) -> None:
        self._thread = threading.Thread(target=target, name="zvt-sim", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._server:
            self._server.close()
        close_fds(self._fds)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn = conn
                try:
                    framing = self._tcp_framing
                    if framing == "auto":
                        framing = self._sniff(conn)
                    if framing is not None:
                        self._serve_fd(conn.fileno(), framing)
                finally:
                    self._conn = None

    def _sniff(self, conn: socket.socket) -> str | None:
        """"serial" if the connection's first byte is DLE, else "tcp" (None: it closed)."""
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                first = conn.recv(1, socket.MSG_PEEK)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not first:
                return None
            conn.settimeout(None)
            return "serial" if first[0] == DLE else "tcp"
        return None

    def disconnect(self) -> None:
        """TCP only: cut the current connection, as a network drop or cable pull would."""
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
