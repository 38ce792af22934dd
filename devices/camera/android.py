"""The phone's camera app through plyer.camera (inside the APK only; CAMERA permission in
buildozer.spec). plyer writes the picture to the file named and calls back when done."""
from __future__ import annotations

from pathlib import Path


class AndroidCamera:
    def take(self, dest: Path, on_done, hint: str = "") -> None:
        from plyer import camera  # type: ignore[import-not-found]
        try:
            from android.permissions import Permission, request_permissions  # type: ignore
            request_permissions([Permission.CAMERA])
        except ImportError:
            pass
        dest = Path(dest)

        def done(path):
            on_done(Path(path) if path and Path(path).exists() else None)
            return False          # plyer: do not keep the picture a second time

        camera.take_picture(filename=str(dest), on_complete=done)
