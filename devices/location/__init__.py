"""Location facade (the plyer convention: one interface, one implementation per platform).

    source = open_location(url)      # "" → None (no receiver configured)
    source.start(); fix = source.last(); source.state; source.stop()

- ``android``: the phone's location service through plyer (devices/location/android.py).
- any other URL: an NMEA 0183 receiver on a serial port, opened like every other device by
  URL through devices/serial_port.py (``/dev/ttyUSB1``, a pty, ``socket://host:port``;
  ``nmea.py``). The simulator (devices/sim/gps.py) serves one on a pty.

A `Fix` is the last position the receiver reported: latitude and longitude in degrees,
accuracy in metres (1-sigma horizontal) and `fixed_at`, the wall-clock time it was received.
The source never ages or judges a fix; terminal/location.py does, at the moment of a capture.
`state` is "off" (not started or closed), "searching" (running, no fix yet or fix lost),
"fix" (the last sentence carried a position) or "error" (the port failed; `error` says why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Fix", "LocationSource", "open_location"]


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float
    fixed_at: float


class LocationSource(Protocol):
    state: str
    error: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def last(self) -> Fix | None: ...


def open_location(url: str, **options) -> LocationSource | None:
    """The location source for a configured URL ("" = none, "android", else NMEA serial)."""
    url = (url or "").strip()
    if not url:
        return None
    if url == "android":
        from devices.location.android import AndroidLocation
        return AndroidLocation(**options)
    from devices.location.nmea import NmeaReceiver
    return NmeaReceiver(url, **options)
