"""A payment terminal that answers each ECR command with fixed APDUs — byte sequences as
real terminals send them (tests/devices/vectors/) — over a real pty with serial framing,
or over a real TCP socket with bare APDUs. It plays only the PT's side of the transport
(ACK, 80 00 00 answers); the content is exactly the bytes given."""
from __future__ import annotations

import os
import select
import socket
import threading
import tty

from devices.zvt.apdu import Apdu
from devices.zvt.errors import TerminalLinkError
from devices.zvt.framing import Link

ACK_APDU = Apdu(0x80, 0x00).encode()


class _Fd:
    def __init__(self, fd: int, stop: threading.Event):
        self.fd, self.stop = fd, stop

    def read_some(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], min(timeout, 0.1))
        if self.stop.is_set():
            raise TerminalLinkError("peer stopping")
        return os.read(self.fd, 4096) if ready else b""

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)


class ScriptedTerminal:
    """`answers`: {(class, instr) of an ECR command: [APDU bytes the PT sends after its
    80 00 00, each answered by the ECR]}; a command not listed is refused with 84 83."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.received: list[tuple[int, int]] = []
        self.raw_received: list[bytes] = []
        self.replies: list[bytes] = []
        self._stop = threading.Event()
        self._fds: list[int] = []
        self._thread: threading.Thread | None = None

    def serve_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        self._start(Link(_Fd(master, self._stop), ack_timeout=0.5, inter_byte_timeout=0.5))
        return os.ttyname(slave)

    def serve_tcp(self) -> str:
        """Bare APDUs on a TCP port (the ZVT TCP/IP transport); returns the URL."""
        from devices.zvt.tcp import BareLink
        server = socket.create_server(("127.0.0.1", 0))
        host, port = server.getsockname()[:2]

        def accept():
            server.settimeout(5)
            conn, _ = server.accept()
            server.close()
            self._fds.append(conn.detach())
            self._loop(BareLink(_Fd(self._fds[-1], self._stop), inter_byte_timeout=0.5))
        self._thread = threading.Thread(target=accept, daemon=True)
        self._thread.start()
        return f"socket://{host}:{port}"

    def _start(self, link) -> None:
        self._thread = threading.Thread(target=self._loop, args=(link,), daemon=True)
        self._thread.start()

    def _loop(self, link) -> None:
        pending = None
        while not self._stop.is_set():
            try:
                cmd, pending = pending or link.receive(0.2), None
            except TerminalLinkError:
                continue
            except OSError:
                return
            self.received.append(cmd.command)
            self.raw_received.append(cmd.encode())
            messages = self.answers.get(cmd.command)
            try:
                if messages is None:
                    link.send(Apdu(0x84, 0x83).encode())
                    continue
                link.send(ACK_APDU)
                for raw in messages:
                    link.send(bytes(raw))
                    reply = link.receive(5.0)
                    if reply.cls not in (0x80, 0x84):  # the ECR gave up and moved on
                        pending = reply
                        break
                    self.replies.append(reply.encode())
            except TerminalLinkError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
