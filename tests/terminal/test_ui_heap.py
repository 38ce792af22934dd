"""The app's native heap (terminal/ui/heap.py), on this process's real glibc heap:
`trim()` gives freed memory that lies between live blocks back to the system."""
import ctypes
import sys

import pytest

from terminal.ui import heap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def _libc():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    return libc


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_trim_gives_back_freed_blocks_held_between_live_ones():
    libc = _libc()
    blocks = []
    for _ in range(1600):                      # 64 kB buffers, every other one kept
        block = libc.malloc(64 * 1024)
        ctypes.memset(block, 1, 64 * 1024)     # resident
        blocks.append(block)
    freed, live = blocks[0::2], blocks[1::2]
    for block in freed:
        libc.free(block)
    try:
        assert heap.usage()["free_kept"] > 40 * 2**20, "the freed buffers stay in the heap"
        before = _rss_kb()
        assert heap.trim()
        assert before - _rss_kb() > 30 * 1024, "the freed pages went back"
    finally:
        for block in live:
            libc.free(block)
