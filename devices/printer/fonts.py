"""Find the CJK font (Noto Sans Mono CJK) used to draw receipt text as pixels, and the fonts
chained after it for rare characters (生僻字).

Used by the renderer for lines the printer's own font cannot print, and by the printer
simulator to draw what a printer would put on paper. The monospaced face is preferred:
its Latin glyphs are exactly half an em wide, like a printer's 12×24 ANK font next to
its 24×24 Chinese font. `CHAOSHOU_CJK_FONT=/path/font.ttc` overrides the search.

Noto Sans CJK holds about a third of the CJK ideographs; a name with 𡒄 (U+21484, Extension
B) would print a box. `font_chain()` is Noto followed by BabelStone Han and HanaMin A/B
(Debian `fonts-babelstone-han`, `fonts-hanazono`; on a handheld the copies packaged in the
app's `fonts/` folder, docs/android.md), and `font_for(ch)` is the first font of the chain
whose character map holds `ch` (fontTools reads the cmap; `coverage()` caches it). The
screen uses the same chain (terminal/ui/fonts.py). `scripts/font_coverage.py` reports what
each font covers per CJK block (README).
"""
from __future__ import annotations

import bisect
import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import ImageFont

__all__ = ["CJKFontMissing", "cjk_font", "font_file", "font_chain", "fallback_files", "coverage",
           "font_for", "runs", "chained_font", "save_coverage"]

APP_FONT_DIR = Path(__file__).resolve().parents[2] / "fonts"   # packaged with the APK
# Rare-character fonts, in chain order: the file names and the folders they are found in.
FALLBACK_NAMES = ("BabelStoneHan.ttf", "HanaMinA.ttf", "HanaMinB.ttf")
_FALLBACK_DIRS = (APP_FONT_DIR, Path("/usr/share/fonts/truetype/babelstone"),
                  Path("/usr/share/fonts/truetype/hanazono"), Path("/system/fonts"))

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


def fallback_files() -> tuple[str, ...]:
    """The rare-character fonts present here, in chain order."""
    found = []
    for name in FALLBACK_NAMES:
        for folder in _FALLBACK_DIRS:
            if (folder / name).is_file():
                found.append(str(folder / name))
                break
    return tuple(found)


def font_chain(weight: str = "regular", primary: str | None = None) -> tuple[str, ...]:
    """The CJK font (or `primary`) followed by the rare-character fonts present."""
    first = primary or font_file(weight)
    return (first, *[f for f in fallback_files() if f != first])


class Coverage:
    """The code points a font's character map holds, as sorted [start, end] ranges."""

    def __init__(self, ranges: list[list[int]]):
        self.ranges = ranges
        self._starts = [r[0] for r in ranges]

    def __contains__(self, cp: int) -> bool:
        i = bisect.bisect_right(self._starts, cp) - 1
        return i >= 0 and cp <= self.ranges[i][1]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


def _cache_dir() -> Path:
    base = os.environ.get("CHAOSHOU_FONT_CACHE") or os.path.join(tempfile.gettempdir(),
                                                                 "chaoshou-font-cmaps")
    return Path(base)


@functools.lru_cache(maxsize=None)
def coverage(path: str) -> Coverage:
    """What the font at `path` holds (face 0 of a collection: the faces of Noto Sans CJK hold
    the same ideographs). Read with fontTools once, then kept in a cache file keyed by the
    font's path, size and time (reading the cmap of a 50 MB font takes about a second)."""
    st = os.stat(path)
    beside = Path(path + ".cmap.json")   # written at build time for the APK's fonts
    cached = _cache_dir() / f"{Path(path).name}-{st.st_size}-{int(st.st_mtime)}.json"
    for candidate in (beside, cached):
        try:
            return Coverage(json.loads(candidate.read_text()))
        except (OSError, ValueError):
            pass
    ranges = _read_cmap(path)
    try:
        save_coverage(path, cached)
    except OSError:
        pass
    return Coverage(ranges)


def _read_cmap(path: str) -> list[list[int]]:
    from fontTools.ttLib import TTFont   # only when no cached map exists
    with TTFont(path, fontNumber=0, lazy=True) as font:
        points = sorted(font.getBestCmap() or {})
    ranges: list[list[int]] = []
    for cp in points:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def save_coverage(path: str, dest: Path | None = None) -> Path:
    """Write the character map of the font at `path` as ranges (default: beside the font,
    `<font>.cmap.json`, which the build script does for the fonts the APK carries)."""
    dest = Path(dest or path + ".cmap.json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(_read_cmap(path)))
    tmp.replace(dest)
    return dest


# Below the CJK radicals every character is the primary font's (Latin, digits, punctuation)
_FIRST_CHECKED = 0x2E80


def font_for(ch: str, chain: tuple[str, ...]) -> str:
    """The first font of `chain` holding `ch`; the first font when none does (its box then
    shows what is missing rather than nothing)."""
    cp = ord(ch)
    if cp < _FIRST_CHECKED:
        return chain[0]
    for path in chain:
        if cp in coverage(path):
            return path
    return chain[0]


def runs(text: str, chain: tuple[str, ...]) -> list[tuple[str, str]]:
    """`text` cut into (font path, piece) runs, each piece drawn by one font of `chain`."""
    out: list[tuple[str, str]] = []
    for ch in text:
        path = font_for(ch, chain)
        if out and out[-1][0] == path:
            out[-1] = (path, out[-1][1] + ch)
        else:
            out.append((path, ch))
    return out


@functools.lru_cache(maxsize=256)
def _font_at(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def chained_font(ch: str, size: int = 24, weight: str = "regular") -> ImageFont.FreeTypeFont:
    """The font that draws `ch` on paper: the CJK font when it holds `ch`, else the first
    rare-character font that does."""
    path = font_for(ch, font_chain(weight))
    if path == font_file(weight):
        return cjk_font(size, weight)
    return _font_at(path, size)
