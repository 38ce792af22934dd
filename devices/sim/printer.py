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
`status`, `quit` (N: after that many more received bytes).
"""
from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw

from devices.printer.escpos_render import glyph as printer_glyph

__all__ = ["PrinterSim", "Job", "main"]

WIDTH = 384
LINE_PITCH_GAP = 6
_QR_EC = {0: qrcode.constants.ERROR_CORRECT_L, 1: qrcode.constants.ERROR_CORRECT_M,
          2: qrcode.constants.ERROR_CORRECT_Q, 3: qrcode.constants.ERROR_CORRECT_H}


@dataclass
class Job:
    """One printed job: its PNG, the text lines and QR payloads that reached paper."""
    number: int
    path: Path
    partial: bool
    lines: list[str] = field(default_factory=list)
    qr: list[str] = field(default_factory=list)
    rasters: int = 0
    bytes: int = 0


class PrinterSim:
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
            elif words[:1] == ["quit"]:
                self._stop.set()
            elif words[:1] != ["status"]:
                return "error: commands are paper out [N] | paper near | paper ok | " \
                       "cover open | cover close | power off [N] | power on | status | quit"
        except ValueError:
            return "error: the count must be a number of bytes"
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

    # -- printer state and paper -----------------------------------------------------------
    def _init_printer(self) -> None:  # ESC @
        self.align, self.bold, self.size = "left", False, (1, 1)
        self.chinese = False
        self.qr_size, self.qr_ec, self.qr_data = 3, 1, b""
        self._line: list[tuple[str, bool, int, int]] = []
        self._line_x = 0

    def _new_job(self) -> None:
        self._strips: list[Image.Image] = []
        self._texts: list[str] = []
        self._qrs: list[str] = []
        self._rasters = 0
        self._lost = False
        self._job_bytes = 0

    def _job_has_content(self) -> bool:
        return bool(self._strips or self._line or self._lost)

    def _end_job(self) -> None:
        if self._line:
            self._print_line()
        if self._strips:
            number = len(self.jobs) + 1
            height = sum(s.height for s in self._strips) + 24
            page = Image.new("L", (WIDTH, height), 255)
            y = 12
            for strip in self._strips:
                page.paste(strip, (0, y))
                y += strip.height
            name = f"job-{number:04d}{'-partial' if self._lost else ''}.png"
            page.save(self.out_dir / name)
            self.jobs.append(Job(number, self.out_dir / name, self._lost, self._texts,
                                 self._qrs, self._rasters, self._job_bytes))
            self._cond.notify_all()
        self._new_job()

    def _put(self, strip: Image.Image) -> bool:
        """Put a strip on paper unless the printer was stopped when its bytes came (then the
        job is cut short)."""
        if self._byte_stopped:
            self._lost = True
            return False
        self._strips.append(strip)
        return True

    def _add_char(self, ch: str) -> None:
        w, h = self.size
        cell = (12 if ord(ch) < 0x80 else 24) * w
        if self._line_x + cell > WIDTH:
            self._print_line()
        self._line.append((ch, self.bold, w, h))
        self._line_x += cell

    def _print_line(self) -> None:
        chars, self._line, self._line_x = self._line, [], 0
        char_h = max((24 * h for _, _, _, h in chars), default=24 * self.size[1])
        strip = Image.new("L", (WIDTH, char_h + LINE_PITCH_GAP), 255)
        used = sum((12 if ord(c) < 0x80 else 24) * w for c, _, w, _ in chars)
        x = {"left": 0, "center": (WIDTH - used) // 2, "right": WIDTH - used}[self.align]
        for ch, bold, w, h in chars:
            cw = 12 if ord(ch) < 0x80 else 24
            if ch != " ":
                glyph = printer_glyph(ch, bold)
                if (w, h) != (1, 1):
                    glyph = glyph.resize((cw * w, 24 * h), Image.NEAREST)
                strip.paste(glyph, (x, char_h - 24 * h))
            x += cw * w
        if self._put(strip):
            self._texts.append("".join(c for c, *_ in chars))

    def _feed_dots(self, dots: int) -> None:
        if dots > 0:
            self._put(Image.new("L", (WIDTH, dots), 255))

    def _place(self, img: Image.Image) -> Image.Image:
        strip = Image.new("L", (WIDTH, img.height), 255)
        x = {"left": 0, "center": (WIDTH - img.width) // 2,
             "right": WIDTH - img.width}[self.align]
        strip.paste(img, (max(0, x), 0))
        return strip

    def _print_qr(self) -> None:
        if not self.qr_data:
            return
        qr = qrcode.QRCode(error_correction=_QR_EC[self.qr_ec], box_size=1, border=0)
        qr.add_data(self.qr_data)
        qr.make(fit=True)
        matrix = qr.get_matrix()
        n, m = len(matrix), self.qr_size
        img = Image.new("L", (n * m, n * m), 255)
        draw = ImageDraw.Draw(img)
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    draw.rectangle([c * m, r * m, c * m + m - 1, r * m + m - 1], fill=0)
        quiet = Image.new("L", (n * m, n * m + 8 * m), 255)
        quiet.paste(img, (0, 4 * m))
        if self._put(self._place(quiet)):
            self._qrs.append(self.qr_data.decode("utf-8", errors="replace"))

    def _print_raster(self, mode: int, width_bytes: int, height: int, data: bytes) -> None:
        img = Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in data))
        img = img.convert("L")
        if mode & 1:
            img = img.resize((img.width * 2, img.height), Image.NEAREST)
        if mode & 2:
            img = img.resize((img.width, img.height * 2), Image.NEAREST)
        if self._put(self._place(img.crop((0, 0, min(img.width, WIDTH), img.height)))):
            self._rasters += 1

    # -- the command parser (a generator fed one byte at a time) ---------------------------
    def _parse(self):
        while True:
            b = yield
            if b == 0x0A:
                self._print_line()
            elif b == 0x10:  # DLE
                c = yield
                if c == 0x04:  # real-time status: answered on receipt (see `receive`)
                    yield
                elif c == 0x14:  # DLE DC4 fn a b
                    for _ in range(3):
                        yield
                elif c == 0x05:
                    yield
            elif b == 0x1B:
                yield from self._esc()
            elif b == 0x1C:
                yield from self._fs()
            elif b == 0x1D:
                yield from self._gs()
            elif b < 0x20 or b == 0x7F:
                pass  # CR, HT and other controls: nothing on paper
            elif self.chinese and b >= 0x81:
                c = yield
                self._add_char(bytes([b, c]).decode("gbk", errors="replace"))
            else:
                self._add_char(bytes([b]).decode("cp437") if b >= 0x80 else chr(b))

    def _esc(self):
        c = yield
        if c == 0x40:
            self._init_printer()
        elif c == 0x61:
            n = yield
            self.align = {0: "left", 48: "left", 1: "center", 49: "center",
                          2: "right", 50: "right"}.get(n, self.align)
        elif c == 0x45:
            self.bold = bool((yield) & 1)
        elif c == 0x21:
            n = yield
            self.bold = bool(n & 0x08)
            self.size = (2 if n & 0x20 else 1, 2 if n & 0x10 else 1)
        elif c == 0x64:  # ESC d n: print and feed n lines
            n = yield
            if self._line:
                self._print_line()
            self._feed_dots(n * (24 * self.size[1] + LINE_PITCH_GAP))
        elif c == 0x4A:  # ESC J n: print and feed n dots
            n = yield
            if self._line:
                self._print_line()
            self._feed_dots(n)
        elif c == 0x2A:  # ESC * m nL nH data: column image, skipped
            m, lo, hi = (yield), (yield), (yield)
            for _ in range((lo + 256 * hi) * (3 if m in (32, 33) else 1)):
                yield
        elif c == 0x44:  # ESC D tab stops … NUL
            while (yield) != 0:
                pass
        elif c in (0x24, 0x5C):
            yield
            yield
        elif c == 0x70:
            for _ in range(3):
                yield
        elif c == 0x63:
            yield
            yield
        elif c in (0x32, 0x3C):
            pass
        else:  # ESC t/3/M/-/G/V/{/R/SP/U/e … with one parameter
            yield

    def _fs(self):
        c = yield
        if c == 0x26:
            self.chinese = True
        elif c == 0x2E:
            self.chinese = False
        elif c == 0x53:
            yield
            yield
        elif c == 0x32:  # FS 2 c1 c2 + 72 bytes: user-defined character
            for _ in range(74):
                yield
        else:  # FS ! / - / W / C / ? …
            yield

    def _gs(self):
        c = yield
        if c == 0x21:
            n = yield
            self.size = (((n >> 4) & 7) + 1, (n & 7) + 1)
        elif c == 0x56:  # GS V m [n]: cut
            m = yield
            if m in (65, 66, 97, 98, 103, 104):
                yield
            self._end_job()
        elif c == 0x76:  # GS v 0 m xL xH yL yH data
            head = []
            for _ in range(6):
                head.append((yield))
            _zero, m, xl, xh, yl, yh = head
            width_bytes, height = xl + 256 * xh, yl + 256 * yh
            data = bytearray()
            for _ in range(width_bytes * height):
                data.append((yield))
            if self._line:
                self._print_line()
            self._print_raster(m, width_bytes, height, bytes(data))
        elif c == 0x28:  # GS ( fn pL pH data
            fn, lo, hi = (yield), (yield), (yield)
            body = bytearray()
            for _ in range(lo + 256 * hi):
                body.append((yield))
            if fn == 0x6B:
                self._two_d(bytes(body))
        elif c == 0x6B:  # GS k m …: barcode, skipped
            m = yield
            if m <= 6:
                while (yield) != 0:
                    pass
            else:
                for _ in range((yield)):
                    yield
        elif c in (0x4C, 0x57, 0x24, 0x50, 0x5C):
            yield
            yield
        elif c == 0x72:  # GS r n: transmit status
            n = yield
            if n in (1, 49):
                value = {"ok": 0, "near_end": 0x03, "out": 0x0F}[self.paper]
                self._reply += bytes([value])
        else:  # GS B/H/h/w/f/a/I … with one parameter
            yield

    def _two_d(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != 0x31:
            return  # not a QR code (PDF417 etc.): ignored
        fn, params = body[1], body[2:]
        if fn == 67 and params:
            self.qr_size = max(1, min(16, params[0]))
        elif fn == 69 and params:
            self.qr_ec = max(0, min(3, params[0] - 48))
        elif fn == 80:
            self.qr_data = params[1:]
        elif fn == 81:
            if self._line:
                self._print_line()
            self._print_qr()

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
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds, self._socks = [], []
        self.draw()
        with self._cond:
            if self._job_has_content():
                self._end_job()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devices.sim.printer",
                                     description="ESC/POS 58 mm receipt printer simulator")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve a pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve a TCP port")
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
        for line in sys.stdin:
            if line.strip():
                print(sim.command(line), flush=True)
            if sim._stop.is_set():
                break
        while not sim._stop.is_set():  # stdin closed: keep serving until killed
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
        for job in sim.jobs:
            print(f"printed {job.path}{' (partial)' if job.partial else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
