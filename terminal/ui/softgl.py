"""The software GL driver (Mesa's llvmpipe), which draws the app on machines without a GPU.

llvmpipe records a frame's drawing into a *scene* (the bins of each 64×64 tile, built in
64 kB data blocks) and rasterises it on its own threads. A new frame takes the first scene
whose rasterisation has finished; when the threads are still busy with the last one, the
driver makes another scene. A scene keeps its data blocks until it is taken again, and
the driver takes the first finished one, so the extra scenes keep the blocks of the frame
they last drew, for as long as the app runs: 5–11 MB each on the route walk.
Scrolling a 5,000-account walk end to end and letting the scroll bar fade left 40–60 MB
more of the heap in use (`python -m bench ui`, README, Benchmarks).

`finish_frames()` waits for the driver after each frame is shown (`glFinish`), so the next
frame always finds the first scene finished and no others are made. Measured, the wait
made frames faster, not slower: frame p99 while syncing 31–32 → 17–18 ms, and on one core
75 → 18 ms. A GPU driver is left alone: it manages its own frames in flight, and a
handheld's GPU works beside the CPU rather than on its cores.
"""
from kivy.graphics.opengl import GL_RENDERER, glFinish, glGetString

SOFTWARE = (b"llvmpipe", b"softpipe", b"swrast")


def is_software(renderer: bytes) -> bool:
    """True when the GL renderer's name is one of Mesa's software rasterisers."""
    return any(name in renderer.lower() for name in SOFTWARE)


def finish_frames(window) -> bool:
    """Wait for the GL driver after each flip of `window` under a software renderer;
    True when it will."""
    if not is_software(glGetString(GL_RENDERER) or b""):
        return False
    window.funbind("on_flip", _finish)       # bound once, however many apps in turn
    window.fbind("on_flip", _finish)
    return True


def _finish(*_):
    glFinish()
