"""Render a receipt document (contracts §5) to ESC/POS bytes through python-escpos.

python-escpos generates the commands (init, alignment, bold, character size, feed, cut,
native QR with `GS ( k`, raster images with `GS v 0`); this module decides what to send:

- Chinese text is encoded here to GBK with strict errors and sent in Chinese mode
  (`FS &`, 1C 26); pure ASCII lines and QR codes are sent in ANK mode (`FS .`, 1C 2E).
  The mode is switched only when it changes.
- Sizes use `GS !`, which (unlike `ESC !`) scales Chinese characters too.
- A line holding a character the printer's font cannot print (see `layout.printable`) is
  drawn with the CJK font into a 1-bit image of the whole line and sent as a raster image,
  so a rare name character is printed, never replaced by `?` or left blank.
- QR codes are native (`GS ( k`, about 41 bytes + data); `qr_native=False` sends them as
  raster images instead (the slow baseline the benchmark compares against).
"""
from __future__ import annotations

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from devices.printer.fonts import chained_font
from devices.printer.layout import (COLUMNS, DOTS, Cut, Feed, Line, Qr, char_width, layout,
                                    printable, text_width)

__all__ = ["render", "render_into", "line_image", "glyph", "PROFILE", "QR_MODULE_DOTS",
           "CHINESE_ON", "CHINESE_OFF"]

PROFILE = "POS-5890"  # a generic 58 mm (384 dot, 32 column) printer profile
CHINESE_ON = b"\x1c&"   # FS &
CHINESE_OFF = b"\x1c."  # FS .
LINE_GAP_DOTS = 6       # a text line is 24 dots high on a 30-dot pitch
QR_MODULE_DOTS = 5
CELL = 12               # dots per column at normal size
# (font size, baseline) in a 24-dot cell: Chinese glyphs fill it; Latin glyphs are drawn a
# little smaller and higher so descenders (g, p, y) end inside the cell, not below it
_CJK_FONT = (24, 21)
_ASCII_FONT = (22, 18)


def glyph(ch: str, bold: bool = False) -> Image.Image:
    """One character as the printer's font draws it: a 12×24 (ASCII) or 24×24 dot cell
    holding the whole glyph, white (255) background."""
    w = char_width(ch)
    size, baseline = _ASCII_FONT if w == 1 else _CJK_FONT
    cell = Image.new("L", (CELL * w, 24), 255)
    ImageDraw.Draw(cell).text((0, baseline), ch, fill=0, anchor="ls",
                              font=chained_font(ch, size, "bold" if bold else "regular"))
    return cell


def line_image(line: Line) -> Image.Image:
    """Draw `line` as the printer would: 12 dots per column, 24 per row, scaled by size.

    The image spans from the left margin to the end of the text (its position carries the
    alignment), height 24 × line height; pixels are pure black (0) or white (255).
    """
    cell_w, cell_h = CELL * line.width, 24 * line.height
    used = text_width(line.text) * cell_w
    x0 = {"left": 0, "center": (DOTS - used) // 2, "right": DOTS - used}[line.align]
    img = Image.new("L", (max(8, x0 + used), cell_h), 255)
    x = x0
    for ch in line.text:
        w = char_width(ch)
        if ch != " ":
            drawn = glyph(ch, line.bold)
            if (line.width, line.height) != (1, 1):
                drawn = drawn.resize((CELL * w * line.width, cell_h), Image.NEAREST)
            img.paste(drawn, (x, 0))
        x += w * cell_w
    return img.point(lambda v: 0 if v < 128 else 255)


class _State:
    """What the printer is currently set to, so that only changes are sent."""

    def __init__(self):
        self.chinese = None  # unknown after power-on: many Chinese printers start in FS &
        self.align, self.bold, self.size = "left", False, (1, 1)  # as after ESC @


def _mode(p, state: _State, chinese: bool) -> None:
    if state.chinese is not chinese:
        p._raw(CHINESE_ON if chinese else CHINESE_OFF)
        state.chinese = chinese


def _style(p, state: _State, align: str, bold: bool, size: tuple[int, int]) -> None:
    if size != state.size:
        p.set(custom_size=True, width=size[0], height=size[1])  # GS ! n
        state.size = size
    if bold != state.bold:
        p.set(bold=bold)
        state.bold = bold
    if align != state.align:
        p.set(align=align)
        state.align = align


def render_into(p, doc: dict, *, qr_native: bool = True, charset: str = "gbk") -> None:
    """Send the commands for `doc` to the python-escpos printer object `p`."""
    items = layout(doc)  # validates first: a bad document sends nothing
    state = _State()
    p.hw("INIT")  # ESC @
    for item in items:
        if isinstance(item, Line):
            text = item.text
            if all(printable(c, charset) for c in text):
                _style(p, state, item.align, item.bold, (item.width, item.height))
                if text.isascii():
                    _mode(p, state, False)
                    p._raw(text.encode("ascii") + b"\n")
                else:
                    _mode(p, state, True)
                    p._raw(text.encode(charset, errors="strict") + b"\n")
            else:
                _style(p, state, "left", state.bold, state.size)
                p.image(line_image(item), impl="bitImageRaster")
                p._raw(b"\x1bJ" + bytes([LINE_GAP_DOTS]))  # ESC J n: feed n dots
        elif isinstance(item, Qr):
            _mode(p, state, False)
            _style(p, state, "center", state.bold, state.size)
            if qr_native:
                p.qr(item.data, ec=QR_ECLEVEL_M, size=QR_MODULE_DOTS, native=True)
            else:
                p.qr(item.data, ec=QR_ECLEVEL_M, size=QR_MODULE_DOTS, native=False,
                     image_arguments={"impl": "bitImageRaster", "center": False})
        elif isinstance(item, Feed):
            p.print_and_feed(item.n)  # ESC d n
        elif isinstance(item, Cut):
            p.cut(feed=False)  # GS V B 0: feed to the cutter and cut


def render(doc: dict, *, qr_native: bool = True, charset: str = "gbk") -> bytes:
    """The ESC/POS bytes for `doc` (raises ValueError for a bad document)."""
    p = Dummy(profile=PROFILE)
    render_into(p, doc, qr_native=qr_native, charset=charset)
    return p.output
