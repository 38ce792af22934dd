"""Camera facade (the plyer convention: one interface, one implementation per platform).

    camera = open_camera(kind)
    camera.take(dest_path, on_done, hint="0123")   # on_done(path or None), any thread

- ``android``: the phone's camera app through plyer (devices/camera/android.py).
- ``file``: a desktop without a camera: the operator chooses an image file (plyer's file
  chooser, devices/camera/files.py).
- ``sim``: the simulator (devices/sim/camera.py): a real JPEG of a meter face showing
  `hint` (the keyed digits), for the demo and the tests.

The picture lands at `dest_path` (or wherever the chooser found it: `on_done` says which);
`None` means the operator cancelled. terminal/photos.py then keeps it, downscaled, under
its SHA-256.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

__all__ = ["Camera", "open_camera", "KINDS"]

KINDS = ("android", "file", "sim")


class Camera(Protocol):
    def take(self, dest: Path, on_done: Callable[[Path | None], None], hint: str = "") -> None: ...


def open_camera(kind: str) -> Camera:
    if kind == "android":
        from devices.camera.android import AndroidCamera
        return AndroidCamera()
    if kind == "file":
        from devices.camera.files import FileCamera
        return FileCamera()
    if kind == "sim":
        from devices.sim.camera import SimulatedCamera
        return SimulatedCamera()
    raise ValueError(f"unknown camera {kind!r}; one of {KINDS}")
