"""A desktop without a camera: the operator picks an image file (plyer's file chooser:
zenity, kdialog or the platform's own dialog)."""
from __future__ import annotations

from pathlib import Path


class FileCamera:
    def take(self, dest: Path, on_done, hint: str = "") -> None:
        from plyer import filechooser  # type: ignore[import-not-found]

        def chosen(selection):
            on_done(Path(selection[0]) if selection else None)

        filechooser.open_file(on_selection=chosen, title="Meter photo",
                              filters=[["Images", "*.jpg", "*.jpeg", "*.png"]])
