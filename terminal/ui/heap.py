"""The app process's native heap (glibc; elsewhere nothing is done).

Two things, both measured with `python -m bench ui` (README, Benchmarks):

- `tune()` fixes glibc's mmap threshold at 128 kB. glibc raises the threshold by itself
  (up to 32 MB) as large blocks are freed, after which the software GL driver's large
  buffers come from the heap and, freed between long-lived objects, stay resident: an
  uncapped frame loop grew by 300–400 MB. A fixed threshold any lower (32 kB) served the
  driver's per-frame scene blocks (Mesa llvmpipe: 64 kB, ~90 a frame) by mmap and munmap:
  each draw then faulted fresh pages in and each munmap interrupted the rasteriser
  threads on the other core, and a scrolling frame's p99 doubled (41 against 20 ms).
- `trim()` gives the heap's free pages back. Every text texture is rendered through
  buffers of 30–100 kB (the SDL surface, the pixel copy handed to GL) that live for one
  call; served from the heap, the freed ones that lie between long-lived objects stay
  resident: 15–25 MB after scrolling a 5,000-account route walk end to end. The walk list
  calls it once it comes to rest (terminal/ui/widgets/walk_list.py), ~2 ms.

`usage()` reads glibc's totals (the UI benchmark's memory breakdown and the tests).
"""
import ctypes
import sys

M_MMAP_THRESHOLD = -3          # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024


def _libc(name: str):
    """glibc's function `name`, or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def tune() -> bool:
    """Fix glibc's mmap threshold; False where there is no glibc `mallopt` for it."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def trim() -> bool:
    """Give the heap's free pages back to the system; False where there is no glibc."""
    malloc_trim = _libc("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim(0)
    return True


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def usage() -> dict | None:
    """glibc's totals over all arenas in bytes: `in_use` (mapped blocks included) and
    `free_kept` (free but held by the heap); None where there is no glibc `mallinfo2`."""
    mallinfo2 = _libc("mallinfo2")
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    m = mallinfo2()
    return {"in_use": m.uordblks + m.hblkhd, "free_kept": m.fordblks}
