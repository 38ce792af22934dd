"""Find the CJK font (Noto Sans Mono CJK) used to draw receipt text as pixels.

Used by the renderer for lines the printer's own font cannot print, and by the printer
simulator to draw what a printer would put on paper. The monospaced face is preferred:
its Latin glyphs are exactly half an em wide, like a printer's 12×24 ANK font next to
its 24×24 Chinese font. `CHAOSHOU_CJK_FONT=/path/font.ttc` overrides the search.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from PIL import ImageFont

__all__ = ["CJKFontMissing", "cjk_font", "font_file"]

_PREFERRED_FAMILIES = ("Noto Sans Mono CJK SC", "Noto Sans CJK SC")
_COMMON_PATHS = {
    "regular": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
                "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
                "/system/fonts/NotoSansCJK-Regular.ttc"),
    "bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
             "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc"),
}


class CJKFontMissing(RuntimeError):
    """No font with Chinese glyphs was found; nothing can be drawn as pixels."""


def _fc_match(weight: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    pattern = "Noto Sans Mono CJK SC" + (":bold" if weight == "bold" else "")
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True,
                             text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and "CJK" in out and Path(out).is_file() else None


@functools.lru_cache(maxsize=None)
def font_file(weight: str = "regular") -> str:
    """Path of the CJK font file for `weight` ("regular" or "bold"; bold falls back to regular)."""
    override = os.environ.get("CHAOSHOU_CJK_FONT")
    if override:
        if not Path(override).is_file():
            raise CJKFontMissing(f"CHAOSHOU_CJK_FONT={override} does not exist")
        return override
    for path in _COMMON_PATHS.get(weight, ()):
        if Path(path).is_file():
            return path
    found = _fc_match(weight)
    if found:
        return found
    if weight != "regular":
        return font_file("regular")
    raise CJKFontMissing("No CJK font found (looked for Noto Sans CJK). Install the "
                         "fonts-noto-cjk package or set CHAOSHOU_CJK_FONT to a .ttc/.otf file.")


@functools.lru_cache(maxsize=None)
def cjk_font(size: int = 24, weight: str = "regular") -> ImageFont.FreeTypeFont:
    """The CJK font at `size` pixels; in a .ttc collection, the monospaced SC face if present."""
    path = font_file(weight)
    first = None
    for index in range(16):
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        first = first or font
        if font.getname()[0] in _PREFERRED_FAMILIES[:1]:
            return font
    if first is None:
        raise CJKFontMissing(f"{path} is not a usable font file")
    for index in range(16):  # no monospaced face: take the SC face, else the first one
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        if font.getname()[0] in _PREFERRED_FAMILIES:
            return font
    return first
