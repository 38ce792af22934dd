"""Find the platform's CJK font and make it Kivy's default, before any widget exists.

Kivy's bundled Roboto has no Chinese glyphs and no fallback, so every label would show
tofu boxes. We register Noto Sans CJK (Debian `fonts-noto-cjk`; Android's system CJK font)
as `DEFAULT_FONT` — the whole font, never a subset, because customer names hold rare
characters (𠮷 𬌗, outside the BMP) that Kivy's SDL2 text renderer draws correctly with it.
`CHAOSHOU_CJK_FONT=/path/to/font.ttc` overrides the search. When nothing is found,
`register()` returns None and `MISSING_MESSAGE` says what to install; the app shows it.

Rare characters (生僻字): Noto holds about a third of the CJK ideographs, and Kivy draws a
label with one font. `markup(text)` cuts the text into runs by the first font of the chain
(Noto, then BabelStone Han, HanaMin A/B: devices/printer/fonts.py, the same chain the
printer uses) that holds each character, and gives each run not drawn by Noto a
``[font=…]`` tag; a label showing customer text sets ``markup: True`` and shows
``fonts.markup(text)`` (the text is escaped, so ``[`` in a name stays a ``[``).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from kivy.utils import escape_markup

from devices.printer.fonts import font_chain, runs

log = logging.getLogger(__name__)

_CANDIDATES = {
    "regular": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
                "/system/fonts/NotoSansCJK-Regular.ttc",
                "/Library/Fonts/NotoSansCJK-Regular.ttc",
                "C:/Windows/Fonts/NotoSansCJK-Regular.ttc"),
    "bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Bold.otf",
             "/system/fonts/NotoSansCJK-Bold.ttc"),
}
MISSING_MESSAGE = ("未找到中文字体：请安装 fonts-noto-cjk 或设置 CHAOSHOU_CJK_FONT。\n"
                   "No Chinese font found: install fonts-noto-cjk or set CHAOSHOU_CJK_FONT.")
registered: str | None = None


def _fc_match(pattern: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and "CJK" in out and Path(out).is_file() else None


def find(weight: str = "regular") -> str | None:
    """Path of a CJK-capable font file for `weight` ("regular"/"bold"), or None."""
    override = os.environ.get("CHAOSHOU_CJK_FONT")
    if override and weight == "regular":
        return override if Path(override).is_file() else None
    for path in _CANDIDATES.get(weight, ()):
        if Path(path).is_file():
            return path
    return _fc_match("Noto Sans CJK SC" + (":bold" if weight == "bold" else ""))


def register() -> str | None:
    """Register the CJK font as Kivy's default font; returns its path, or None (logged)."""
    global registered
    from kivy.core.text import DEFAULT_FONT, LabelBase
    regular = find("regular")
    if regular is None:
        log.error(MISSING_MESSAGE)
        registered = None
        return None
    bold = find("bold") or regular
    LabelBase.register(DEFAULT_FONT, regular, fn_bold=bold)
    LabelBase.register("CJK", regular, fn_bold=bold)
    registered = regular
    return regular


def chain() -> tuple[str, ...]:
    """The screen's font chain: the registered CJK font, then the rare-character fonts."""
    primary = registered or find("regular")
    return font_chain(primary=primary) if primary else ()


def markup(text: str) -> str:
    """`text` as Kivy markup drawing each character with the first font of the chain holding
    it: runs the default font holds stay untagged, the others get ``[font=path]``."""
    fonts = chain()
    if not text or not fonts:
        return escape_markup(text or "")
    out = []
    for path, piece in runs(text, fonts):
        piece = escape_markup(piece)
        out.append(piece if path == fonts[0] else f"[font={path}]{piece}[/font]")
    return "".join(out)
