"""Where the UI benchmark's route-open time and memory go (the breakdown fields of
bench/ui.py's rows).

Time: `OpenTimer` wraps, for the length of one route open, the functions the walk screen
calls (the store queries, building the rows, handing them to the RecycleView, its layout,
the row widgets and their text textures) and sums their time; the first frame is timed
from the window's `on_draw` to its `on_flip`.

Memory: `memory()` reads the process's resident memory from /proc (anonymous pages apart
from file pages: shared libraries, the GL driver's code, mapped fonts), the live textures
(all, and those of text labels: count and bytes), Kivy's Cache categories, glibc's malloc
totals and, when tracemalloc runs, the Python heap. Linux only (the benchmark's machine).
"""
from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections import defaultdict

MB = 2**20


class OpenTimer:
    """Sums the time spent in wrapped functions (any thread) until `stop()`, each call's
    own time: time in a wrapped function it calls counts for that one only."""

    def __init__(self):
        self.ms: dict = defaultdict(float)
        self.calls: dict = defaultdict(int)
        self.last_end: dict = {}
        self._undo: list = []
        self._nested = threading.local()
        self.draw_start = None
        self.frames: list = []   # (on_draw, on_flip) stamps

    def wrap(self, owner, name: str, key: str) -> None:
        original = getattr(owner, name)
        own = name in vars(owner)

        def timed(*args, **kwargs):
            stack = self._nested.__dict__.setdefault("stack", [])
            stack.append(0.0)              # time spent in wrapped calls inside this one
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                end = time.perf_counter()
                inner = stack.pop()
                if stack:
                    stack[-1] += end - t0
                self.ms[key] += (end - t0 - inner) * 1000
                self.calls[key] += 1
                self.last_end[key] = end
        setattr(owner, name, timed)
        self._undo.append((owner, name, original if own else None))

    def watch_frames(self, window) -> None:
        def drawing(*_):
            self.draw_start = time.perf_counter()

        def drawn(*_):
            if self.draw_start is not None:
                self.frames.append((self.draw_start, time.perf_counter()))
                self.draw_start = None
        window.fbind("on_draw", drawing)
        window.fbind("on_flip", drawn)
        self._undo.append((window, ("on_draw", drawing, "on_flip", drawn), "frames"))

    def stop(self) -> None:
        for owner, name, original in reversed(self._undo):
            if original == "frames":
                owner.funbind(name[0], name[1])
                owner.funbind(name[2], name[3])
            elif original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._undo.clear()


def _status_kb() -> dict:
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(rest.split()[0])
    return out


def _malloc() -> dict:
    """glibc's totals over all arenas: bytes in use, and bytes free but kept."""
    from terminal.ui import heap
    totals = heap.usage()
    if totals is None:
        return {}
    return {"malloc_in_use_mb": round(totals["in_use"] / MB, 1),
            "malloc_free_kept_mb": round(totals["free_kept"] / MB, 1)}


_BYTES = {"rgba": 4, "bgra": 4, "rgb": 3, "bgr": 3, "luminance_alpha": 2, "luminance": 1,
          "alpha": 1, "red": 1, "rg": 2}


def _texture_bytes(t) -> int:
    return int(t.width) * int(t.height) * _BYTES.get(t.colorfmt, 4)


def textures() -> dict:
    """Live textures (regions of a bigger texture not counted twice) and those of text,
    and the fonts (face, size, style) the live labels draw with: the text renderer opens
    each once and keeps it (~2.5 MB for the CJK font)."""
    from kivy.core.text import LabelBase
    from kivy.graphics.texture import Texture, TextureRegion
    all_t, text_t, fonts = {}, {}, set()
    for o in gc.get_objects():
        kind = type(o)          # not isinstance: a dead weak proxy raises on it
        if issubclass(kind, Texture) and not issubclass(kind, TextureRegion):
            all_t[id(o)] = o
        elif issubclass(kind, LabelBase):
            fonts.add(o._get_font_id())
            t = getattr(o, "_texture", None) or getattr(o, "texture", None)
            if t is not None:
                text_t[id(t)] = t
    return {"textures": len(all_t),
            "textures_mb": round(sum(map(_texture_bytes, all_t.values())) / MB, 2),
            "text_textures": len(text_t),
            "text_textures_mb": round(sum(map(_texture_bytes, text_t.values())) / MB, 2),
            "label_fonts": len(fonts)}


def kivy_caches() -> dict:
    """Entries per Kivy Cache category that holds any."""
    from kivy.cache import Cache
    return {cat: len(objs) for cat, objs in Cache._objects.items() if objs}


def memory(prefix: str = "") -> dict:
    """The memory breakdown now; `rest_mb` is what neither the Python heap (when traced)
    nor the textures explain: the GL driver's and the libraries' own memory."""
    s = _status_kb()
    out = {"rss_mb": round(s["VmRSS"] / 1024, 1), "rss_anon_mb": round(s["RssAnon"] / 1024, 1),
           "rss_file_mb": round(s["RssFile"] / 1024, 1), **_malloc(), **textures(),
           "kivy_cache": kivy_caches()}
    if tracemalloc.is_tracing():
        out["py_heap_mb"] = round(tracemalloc.get_traced_memory()[0] / MB, 1)
    return {prefix + k: v for k, v in out.items()}


def scroll_through(loop, view) -> int:
    """Scroll a ScrollView/RecycleView from the top to the bottom a viewport a frame, so
    that every row is drawn once; returns the number of frames."""
    frames = 0
    view.scroll_y = 1.0
    loop.idle()
    while view.scroll_y > 0:
        content = view.children[0]
        scrollable = max(1.0, content.height - view.height)
        view.scroll_y = max(0.0, view.scroll_y - view.height / scrollable)
        loop.idle()
        frames += 1
    loop.idle()
    return frames
