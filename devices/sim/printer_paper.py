"""The paper side of the ESC/POS printer simulator: the command parser (a generator fed one
byte at a time) and the drawing of text, QR codes and raster images onto 384-dot paper.
`PrinterSim` (devices/sim/printer.py) feeds it the bytes it has received, in order."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw

from devices.printer.escpos_render import glyph as printer_glyph

__all__ = ["Paper", "Job", "WIDTH"]

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


class Paper:
    """Parser and paper state; the simulator supplies `jobs`, `out_dir`, `_cond`,
    `_byte_stopped` and `_reply`."""

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
