"""The app process's native heap (glibc; elsewhere nothing is changed).

Every text texture is rendered through buffers of 30–100 kB (the SDL surface, the pixel
copy handed to GL) that live for one call. glibc serves them from its heap below the mmap
threshold, which it raises by itself (up to 32 MB) as such buffers are freed, and keeps the
freed chunks that lie between long-lived objects: scrolling a 5,000-account route walk end
to end left 12–16 MB free but resident (`python -m bench ui`, `malloc_free_kept_mb`). A
fixed 32 kB threshold serves those buffers by mmap, given back when freed (README,
Benchmarks).
"""
import ctypes
import sys

M_MMAP_THRESHOLD = -3          # glibc's malloc.h
MMAP_THRESHOLD = 32 * 1024


def tune() -> bool:
    """Fix glibc's mmap threshold; False where there is no glibc `mallopt` for it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
