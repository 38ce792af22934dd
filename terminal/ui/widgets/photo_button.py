"""The reading screen's photo button: takes a meter photo with the configured camera
(devices/camera: android, file or sim; settings [camera] kind, "" = the platform's own),
keeps it with terminal/photos.py on a worker thread and hands its SHA-256 to the screen's
ReadingEntry, so the save names it in the reading's op. Shows ✓ once a photo is kept.
"""
from __future__ import annotations

import uuid

from kivy.clock import Clock
from kivy.properties import ObjectProperty, StringProperty

from devices.camera import open_camera
from devices.serial_port import on_android
from terminal import photos
from terminal.ui.widgets.field_common import FieldButton, run, tr


def keep_photo(store, entry, path):
    """Worker: store the picture (downscaled, named by its hash) and give it to the entry."""
    sha = photos.store_photo(store, path)
    if path.parent.name == "incoming":
        path.unlink(missing_ok=True)
    entry.set_photo(sha)
    return sha


class PhotoButton(FieldButton):
    screen = ObjectProperty(None)       # the reading screen (its entry, keyed digits, message)
    sha = StringProperty("")            # the kept photo's SHA-256, "" before one is taken

    def on_release(self):
        screen = self.screen
        if screen is None or screen.entry is None:
            return
        app = screen.app
        kind = app.config.getdefault("camera", "kind", "") or ("android" if on_android() else "file")
        dest = app.data_dir / "photos" / "incoming" / f"{uuid.uuid4().hex}.jpg"
        try:
            camera = open_camera(kind)
            camera.take(dest, lambda path: Clock.schedule_once(lambda *_: self._taken(path)),
                        hint=screen.keyed)
        except Exception as exc:   # no camera here: say so, keep everything keyed
            screen.message, screen.level = tr("No camera: {e}").format(e=exc), "error"

    def _taken(self, path):
        screen = self.screen
        if path is None or screen.entry is None:
            screen.message, screen.level = tr("No photo was taken."), "warning"
            return
        entry = screen.entry

        def kept(sha):
            if screen.entry is entry:
                self.sha = sha
                screen.message, screen.level = tr("Photo kept."), "ok"

        def failed(exc):
            screen.message, screen.level = tr("The photo could not be kept: {e}").format(
                e=exc), "error"

        run(keep_photo, screen.app.services.store, entry, path, on_done=kept, on_error=failed)
