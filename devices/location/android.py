"""The Android location service through plyer.gps (only inside the APK: plyer and its
Android backend are imported here, nowhere else). The app needs ACCESS_FINE_LOCATION
(buildozer.spec); plyer asks the location manager for updates every `min_time_ms`."""
from __future__ import annotations

import logging
import threading
import time

from devices.location import Fix

log = logging.getLogger(__name__)


class AndroidLocation:
    def __init__(self, *, min_time_ms: int = 1000, min_distance_m: float = 0, clock=time.time):
        self.min_time_ms, self.min_distance_m, self.clock = min_time_ms, min_distance_m, clock
        self.state, self.error = "off", ""
        self._fix: Fix | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        from plyer import gps  # type: ignore[import-not-found]
        try:
            from android.permissions import Permission, request_permissions  # type: ignore
            request_permissions([Permission.ACCESS_FINE_LOCATION, Permission.ACCESS_COARSE_LOCATION])
        except ImportError:
            pass
        try:
            gps.configure(on_location=self._on_location, on_status=self._on_status)
            gps.start(minTime=self.min_time_ms, minDistance=self.min_distance_m)
            self.state = "searching"
        except Exception as exc:   # NotImplementedError, a Java exception: no location
            self.state, self.error = "error", str(exc)
            log.warning("Android location: %s", exc)

    def stop(self) -> None:
        from plyer import gps  # type: ignore[import-not-found]
        try:
            gps.stop()
        finally:
            self.state = "off"

    def last(self) -> Fix | None:
        with self._lock:
            return self._fix

    def _on_location(self, **kw) -> None:
        try:
            fix = Fix(float(kw["lat"]), float(kw["lon"]), float(kw.get("accuracy") or 0.0),
                      self.clock())
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            self._fix = fix
        self.state = "fix"

    def _on_status(self, stype, status) -> None:
        if stype == "provider-disabled":
            self.state, self.error = "error", str(status)
        elif stype == "provider-enabled" and self.state == "error":
            self.state = "searching"
