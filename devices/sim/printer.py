"""ESC/POS receipt printer simulator: parses what a driver sends and draws it as PNG paper.

Serves one end of a pseudo-terminal (`serve_pty()`, returns the path to open) or a TCP
port (`serve_tcp(port)`), or is fed bytes directly (`feed(data) -> reply`). It answers the
real-time status queries `DLE EOT 1/2/3/4` truthfully and at once — as real printers do,
even in the middle of a job still being printed (drawing runs behind reception) — and can be told to run out of paper
(now or after N more bytes, to cut a job short), to open/close its cover, to report paper
near end, to be refilled, and to lose power (it then neither prints nor answers). While out of paper or with the cover open it keeps parsing
but prints nothing, like a printer stopped by its sensors.

It understands ESC @, ESC a, ESC E, ESC !, GS !, ESC d, ESC J, GS V, FS & / FS . (GBK in
Chinese mode), GS ( k (QR model/size/level/store/print), GS v 0 raster images and LF, and
skips other common commands by their length. Each job (ending at a cut, or after
`idle_gap` seconds without data) is drawn 384 dots wide with Noto Sans Mono CJK — 12×24
dots per ASCII character, 24×24 per Chinese character, scaled by the character size — QR
codes drawn module by module from the stored data with `qrcode`, raster images as sent —
and saved as `job-NNNN.png` (`job-NNNN-partial.png` when some of it was not printed).

    python -m devices.sim.printer --pty --out DIR      # prints the pty path
    python -m devices.sim.printer --tcp 9100 --out DIR [--control 9101]

Commands on stdin (or on the `--control` TCP port, one per line): `paper out [N]`,
`paper near`, `paper ok`, `cover open`, `cover close`, `power off [N]`, `power on`,
`drop answers N` (leave the next N status queries unanswered), `status`, `quit`
(N after paper out and power off: after that many more received bytes).
"""
from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
import tty
from collections import deque
from pathlib import Path

from devices.sim import close_fds
from devices.sim.printer_paper import Job, Paper

__all__ = ["PrinterSim", "Job"]


class PrinterSim(Paper):
    def __init__(self, out_dir, *, idle_gap: float = 0.5):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.idle_gap = idle_gap
        self.paper = "ok"  # ok | near_end | out
        self.cover_open = False
        self.jobs: list[Job] = []
        self.received = bytearray()
        self._out_after: int | None = None
        self.powered = True
        self._off_after: int | None = None
        self._drop_answers = 0             # real-time queries left unanswered (a lost byte)
        self._cond = threading.Condition(threading.RLock())
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fds: list[int] = []
        self._socks: list[socket.socket] = []
        self._reply = bytearray()
        self._pending_reply = bytearray()  # drawn commands' answers for the transport
        self._last_rx = 0.0
        self._rx = threading.Lock()        # the receive side: never waits for drawing
        self._queue: deque = deque()       # (byte, printer stopped when it came) to draw
        self._work = threading.Event()
        self._rt = 0                       # real-time scanner: 1 after DLE, 2 after DLE EOT
        self._byte_stopped = False         # was the printer stopped when this byte came
        self._init_printer()
        self._new_job()
        self._parser = self._parse()
        next(self._parser)

    # -- control ---------------------------------------------------------------------------
    def run_out_of_paper(self, after_bytes: int | None = None) -> None:
        """Paper ends now, or after `after_bytes` more received bytes (mid-job)."""
        with self._cond:
            if after_bytes:
                self._out_after = after_bytes
            else:
                self.paper, self._out_after = "out", None

    def power_off(self, after_bytes: int | None = None) -> None:
        """Switch off now, or after `after_bytes` more received bytes: from then on
        nothing is printed and nothing is answered, like a printer whose battery died."""
        with self._rx:
            if after_bytes:
                self._off_after = after_bytes
            else:
                self.powered, self._off_after = False, None
                self._queue.append(self._switch_off)
        self.draw()

    def _switch_off(self) -> None:  # drawn in order: what came before the cut is printed
        if self._job_has_content():  # what was printed stays on paper; the rest is lost
            self._lost = True
            self._end_job()
        self._init_printer()

    def power_on(self) -> None:
        with self._rx:
            self.powered, self._off_after = True, None
            self._queue.append(self._init_printer)
        self.draw()

    def drop_answers(self, n: int) -> None:
        """Leave the next `n` real-time status queries unanswered, as a line that loses a
        byte or a printer busy with its motor would: the driver must ask again."""
        with self._rx:
            self._drop_answers = n

    def refill(self) -> None:
        with self._cond:
            self.paper, self._out_after = "ok", None

    def near_end(self) -> None:
        with self._cond:
            self.paper = "near_end"

    def open_cover(self) -> None:
        with self._cond:
            self.cover_open = True

    def close_cover(self) -> None:
        with self._cond:
            self.cover_open = False

    def wait_for_jobs(self, n: int, timeout: float = 10.0) -> list[Job]:
        """Block until at least `n` jobs are finished; returns the job list."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.jobs) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.jobs)} job(s) printed, expected {n}")
                self._cond.wait(min(left, 0.05))
                self._tick_locked()
            return list(self.jobs)

    def command(self, line: str) -> str:
        """Apply one text command (see the module docstring); returns a reply line."""
        words = line.strip().lower().split()
        try:
            if words[:2] == ["paper", "out"]:
                self.run_out_of_paper(int(words[2]) if len(words) > 2 else None)
            elif words[:2] == ["paper", "near"]:
                self.near_end()
            elif words[:2] == ["paper", "ok"]:
                self.refill()
            elif words[:2] == ["cover", "open"]:
                self.open_cover()
            elif words[:2] == ["cover", "close"]:
                self.close_cover()
            elif words[:2] == ["power", "off"]:
                self.power_off(int(words[2]) if len(words) > 2 else None)
            elif words[:2] == ["power", "on"]:
                self.power_on()
            elif words[:2] == ["drop", "answers"]:
                self.drop_answers(int(words[2]))
            elif words[:1] == ["quit"]:
                self._stop.set()
            elif words[:1] != ["status"]:
                return ("error: commands are paper out [N] | paper near | paper ok | "
                        "cover open | cover close | power off [N] | power on | "
                        "drop answers N | status | quit")
        except ValueError:
            return "error: the count must be a number"
        return f"ok paper={self.paper} cover={'open' if self.cover_open else 'closed'} " \
               f"power={'on' if self.powered else 'off'} jobs={len(self.jobs)}"

    # -- bytes in, replies out -------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Take received bytes and draw them; returns the bytes the printer answers."""
        reply = self.receive(data)
        return reply + self.draw()

    def receive(self, data: bytes) -> bytes:
        """Take bytes off the line as a printer's receive buffer does: real-time status
        queries (DLE EOT n) are answered at once, whatever job is being printed; bytes
        count toward a scripted paper end or power cut; the rest waits to be drawn."""
        with self._rx:
            self._last_rx = time.monotonic()
            self.received += data
            reply = bytearray()
            for b in data:
                if self._off_after is not None:
                    self._off_after -= 1
                    if self._off_after <= 0:
                        self.powered, self._off_after = False, None
                        self._queue.append(self._switch_off)
                if not self.powered:
                    continue
                if self._out_after is not None:
                    self._out_after -= 1
                    if self._out_after <= 0:
                        self.paper, self._out_after = "out", None
                if self._rt == 2:  # DLE EOT n
                    if self._drop_answers:
                        self._drop_answers -= 1
                    else:
                        reply += self._status(b)
                    self._rt = 0
                elif self._rt == 1:
                    self._rt = 2 if b == 0x04 else (1 if b == 0x10 else 0)
                elif b == 0x10:
                    self._rt = 1
                self._queue.append((b, self._stopped()))
            self._work.set()
            return bytes(reply)

    def draw(self) -> bytes:
        """Draw what was received so far; returns what the drawn commands answer (GS r)."""
        with self._cond:
            while self._queue:
                item = self._queue.popleft()
                if callable(item):
                    item()
                    continue
                b, self._byte_stopped = item
                self._job_bytes += 1
                self._parser.send(b)
            reply, self._reply = bytes(self._reply), bytearray()
            return reply

    def tick(self) -> None:
        """End a job after `idle_gap` seconds without data (called by the transports)."""
        with self._cond:
            self._tick_locked()

    def _tick_locked(self) -> None:
        if (time.monotonic() - self._last_rx >= self.idle_gap and not self._queue
                and self._job_has_content()):
            self._end_job()

    def _draw_loop(self) -> None:
        while not self._stop.is_set():
            if self._work.wait(0.05):
                self._work.clear()
                self._pending_reply += self.draw()
            self.tick()

    def _take_reply(self) -> bytes:
        reply, self._pending_reply = bytes(self._pending_reply), bytearray()
        return reply

    # -- status ----------------------------------------------------------------------------
    def _stopped(self) -> bool:
        return self.paper == "out" or self.cover_open

    def _status(self, n: int) -> bytes:
        value = 0x12
        if n == 1 and self._stopped():
            value |= 0x08
        elif n == 2:
            value |= (0x04 if self.cover_open else 0) | (0x20 if self.paper == "out" else 0)
        elif n == 4:
            value |= {"ok": 0, "near_end": 0x0C, "out": 0x6C}[self.paper]
        return bytes([value])

    # -- transports ------------------------------------------------------------------------
    def serve_pty(self) -> str:
        """Serve the master side of a new pty in a thread; returns the slave's path."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        self._start(self._pump_fd, master)
        return os.ttyname(slave)

    def _pump_fd(self, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                self.tick()
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            reply = self.receive(data) + self._take_reply()
            if reply:
                os.write(fd, reply)

    def serve_tcp(self, port: int = 0, host: str = "127.0.0.1") -> tuple[str, int]:
        """Listen on a TCP port (0 = any free one) in a thread; returns the address."""
        server = socket.create_server((host, port))
        server.settimeout(0.1)
        self._socks.append(server)
        self._start(self._accept, server)
        return server.getsockname()[:2]

    def _accept(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.05)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except (TimeoutError, socket.timeout):
                        self.tick()
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    reply = self.receive(data) + self._take_reply()
                    if reply:
                        conn.sendall(reply)
            self.tick()

    def serve_control(self, port: int = 0, host: str = "127.0.0.1") -> tuple[str, int]:
        """A TCP port taking the text commands, one per line."""
        server = socket.create_server((host, port))
        server.settimeout(0.1)
        self._socks.append(server)

        def loop():
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except (TimeoutError, socket.timeout):
                    continue
                except OSError:
                    return
                with conn, conn.makefile("rw", encoding="utf-8") as f:
                    for line in f:
                        f.write(self.command(line) + "\n")
                        f.flush()
        self._start(loop)
        return server.getsockname()[:2]

    def _start(self, target, *args) -> None:
        if not self._threads:  # one drawing thread behind every transport
            drawer = threading.Thread(target=self._draw_loop, daemon=True)
            drawer.start()
            self._threads.append(drawer)
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        for s in self._socks:
            s.close()
        close_fds(self._fds)
        self._socks = []
        self.draw()
        with self._cond:
            if self._job_has_content():
                self._end_job()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    from devices.sim.printer_cli import main
    sys.exit(main())
