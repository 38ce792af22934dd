"""The app's view of the location source: which receiver (settings: [location] url), its
fix state for the status bar, and the fix to record with a capture.

`state` (a Kivy property, set on the Kivy thread by a poll every half second) is one of
off | searching | good | stale | inaccurate | error; `current()` is the last fix assessed
now by terminal/location.py with the configured limits (`max_age_s`, `max_accuracy_m`), or
None without one. Opening the port and reading it happen on the source's own thread.
"""
from __future__ import annotations

import logging
import time

from kivy.clock import Clock
from kivy.event import EventDispatcher
from kivy.properties import StringProperty

from devices.location import open_location
from terminal import location

log = logging.getLogger(__name__)

DEFAULTS = {"url": "", "max_age_s": str(location.DEFAULT_MAX_AGE_S),
            "max_accuracy_m": str(int(location.DEFAULT_MAX_ACCURACY_M))}
MARKS = {"good": "ok", "stale": "warning", "inaccurate": "warning", "searching": "busy",
         "error": "error", "off": "none"}


class Location(EventDispatcher):
    state = StringProperty("off")

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self.app = app          # its config is read when the source starts
        self.source = None
        self._poll_ev = None

    def _get(self, key: str) -> str:
        return self.app.config.getdefault("location", key, DEFAULTS[key])

    def limits(self) -> location.Limits:
        return location.Limits(float(self._get("max_age_s") or DEFAULTS["max_age_s"]),
                               float(self._get("max_accuracy_m") or DEFAULTS["max_accuracy_m"]))

    def start(self) -> None:
        self.stop()
        try:
            self.source = open_location(self._get("url"))
        except Exception as exc:   # a bad URL, plyer missing: no location, said so
            log.warning("location source: %s", exc)
            self.source, self.state = None, "error"
            return
        if self.source is not None:
            self.source.start()
            self._poll_ev = Clock.schedule_interval(lambda *_: self.poll(), 0.5)
        self.poll()

    def stop(self) -> None:
        if self._poll_ev is not None:
            self._poll_ev.cancel()
            self._poll_ev = None
        if self.source is not None:
            self.source.stop()
            self.source = None
        # `state` is left as it is: the app closes this while stopping, and a property
        # change then would re-evaluate the stopping app's status bar (start() sets it anew)

    def current(self, now: float | None = None) -> dict | None:
        """The last fix as a capture made now records it (None: no fix at all)."""
        fix = self.source.last() if self.source is not None else None
        if fix is None:
            return None
        return location.assess(fix.lat, fix.lon, fix.accuracy_m, fix.fixed_at,
                               time.time() if now is None else now, self.limits())

    def poll(self) -> None:
        if self.source is None:
            self.state = "off" if self.state != "error" else "error"
            return
        fix = self.current()
        if self.source.state == "error":
            self.state = "error"
        elif fix is not None:
            self.state = fix["state"]
        else:
            self.state = "searching"
