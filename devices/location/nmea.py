"""An NMEA 0183 GPS receiver on a serial port (pyserial through devices/serial_port.py,
sentences parsed by pynmea2).

A reader thread takes lines from the port. GGA gives the position, the fix quality and the
HDOP; GST, when the receiver sends it, the position's standard deviations; RMC's status
says whether the receiver has a valid fix. Accuracy is sqrt(σlat² + σlon²) from GST, else
HDOP × `uere_m` (the user equivalent range error, about 5 m for a consumer receiver).
A sentence without a fix (GGA quality 0, RMC status V) keeps the last fix as it was — its
age then grows and the capture records it as stale — and puts the state to "searching".
"""
from __future__ import annotations

import logging
import math
import threading
import time

import pynmea2
import serial

from devices.location import Fix
from devices.serial_port import open_port

log = logging.getLogger(__name__)


class NmeaReceiver:
    def __init__(self, url: str, *, baudrate: int = 9600, uere_m: float = 5.0, clock=time.time):
        self.url, self.baudrate, self.uere_m, self.clock = url, baudrate, uere_m, clock
        self.state, self.error = "off", ""
        self._fix: Fix | None = None
        self._sigma_m: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = "searching"
        self._thread = threading.Thread(target=self._run, name="nmea", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self.state = "off"

    def last(self) -> Fix | None:
        with self._lock:
            return self._fix

    # -- reading -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            port = open_port(self.url, baudrate=self.baudrate, timeout=0.2)
        except (OSError, serial.SerialException) as exc:
            self.state, self.error = "error", str(exc)
            log.warning("GPS receiver %s: %s", self.url, exc)
            return
        buffer = b""
        with port:
            while not self._stop.is_set():
                try:
                    buffer += port.read(512)
                except (OSError, serial.SerialException) as exc:
                    self.state, self.error = "error", str(exc)
                    return
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self.feed(line.decode("ascii", "replace").strip())

    def feed(self, line: str) -> None:
        """Take one NMEA sentence (bad checksums and unknown sentences are skipped)."""
        if not line.startswith("$"):
            return
        try:
            msg = pynmea2.parse(line, check=True)
        except (pynmea2.ParseError, ValueError, AttributeError):
            return
        kind = getattr(msg, "sentence_type", "")
        if kind == "GST":
            try:
                self._sigma_m = math.hypot(float(msg.std_dev_latitude), float(msg.std_dev_longitude))
            except (TypeError, ValueError):
                self._sigma_m = None
        elif kind == "RMC" and msg.status != "A":
            self.state = "searching"
        elif kind == "GGA":
            if not msg.gps_qual or not msg.lat or not msg.lon:
                self.state = "searching"
                return
            try:
                hdop = float(msg.horizontal_dil)
            except (TypeError, ValueError):
                hdop = 99.0
            accuracy = self._sigma_m if self._sigma_m is not None else hdop * self.uere_m
            with self._lock:
                self._fix = Fix(msg.latitude, msg.longitude, accuracy, self.clock())
            self.state = "fix"
