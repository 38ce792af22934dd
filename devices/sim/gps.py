"""A GPS receiver simulator: NMEA 0183 sentences (GGA, GST, RMC) on a pty, walking a route.

    sim = GpsSim(); path = sim.serve_pty()     # the app's location URL is `path`
    sim.lose_fix() / sim.regain_fix() / sim.set_accuracy(metres)
    python -m devices.sim.gps --pty            # prints the pty path; stdin: "lose", "regain",
                                               # "accuracy 80", "quit"

Every `period` seconds the receiver moves `step_m` metres along `route` (a list of
(lat, lon) waypoints, by default a street of the demo utility's town) and sends one GGA
(position, fix quality, HDOP), one GST (the position's standard deviations) and one RMC.
Without a fix it sends GGA with quality 0 and RMC with status V, as a receiver that lost
the sky does. Sentences are built with pynmea2, checksums included.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import threading
import tty

import pynmea2

from devices.sim import answer_commands, close_fds

__all__ = ["GpsSim", "main", "DEMO_ROUTE"]

# 幸福路, 西湖区, 杭州: the demo route's street, south to north
DEMO_ROUTE = ((30.25900, 120.13000), (30.26050, 120.13020), (30.26200, 120.13060),
              (30.26350, 120.13080), (30.26500, 120.13100))
_M_PER_DEG = 111_320.0


def _ddmm(value: float, lat: bool) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    value = abs(value)
    deg = int(value)
    minutes = (value - deg) * 60
    return (f"{deg:02d}{minutes:07.4f}" if lat else f"{deg:03d}{minutes:07.4f}"), hemi


class GpsSim:
    def __init__(self, route=DEMO_ROUTE, *, period: float = 0.2, step_m: float = 1.0,
                 accuracy_m: float = 4.0):
        self.route, self.period, self.step_m = list(route), period, step_m
        self.accuracy_m = accuracy_m
        self.has_fix = True
        self.travelled_m = 0.0
        self.sent = 0
        self._stop = threading.Event()
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------
    def lose_fix(self) -> None:
        self.has_fix = False

    def regain_fix(self) -> None:
        self.has_fix = True

    def set_accuracy(self, metres: float) -> None:
        self.accuracy_m = float(metres)

    def command(self, line: str) -> str:
        words = line.split()
        if words[:1] == ["lose"]:
            self.lose_fix()
        elif words[:1] == ["regain"]:
            self.regain_fix()
        elif words[:1] == ["accuracy"] and len(words) == 2:
            self.set_accuracy(float(words[1]))
        elif words[:1] == ["quit"]:
            self._stop.set()
        else:
            return "commands: lose | regain | accuracy METRES | quit"
        return "ok"

    # -- where and what ------------------------------------------------------------------
    def position(self) -> tuple[float, float]:
        """The point `travelled_m` metres along the route (back and forth)."""
        legs = list(zip(self.route, self.route[1:])) or [(self.route[0], self.route[0])]
        lengths = [math.hypot((b[0] - a[0]) * _M_PER_DEG,
                              (b[1] - a[1]) * _M_PER_DEG * math.cos(math.radians(a[0])))
                   for a, b in legs]
        total = sum(lengths) or 1.0
        d = self.travelled_m % (2 * total)
        if d > total:
            d = 2 * total - d
        for (a, b), length in zip(legs, lengths):
            if d <= length or length == 0:
                f = d / length if length else 0.0
                return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
            d -= length
        return self.route[-1]

    def sentences(self, now: dt.datetime | None = None) -> list[str]:
        now = now or dt.datetime.now(dt.timezone.utc)
        hhmmss = now.strftime("%H%M%S.") + f"{now.microsecond // 10000:02d}"
        lat, lon = self.position()
        (la, ns), (lo, ew) = _ddmm(lat, True), _ddmm(lon, False)
        sigma = self.accuracy_m / math.sqrt(2)
        hdop = f"{self.accuracy_m / 5.0:.1f}"
        if self.has_fix:
            gga = ("GP", "GGA", (hhmmss, la, ns, lo, ew, "1", "08", hdop, "12.0", "M", "7.0",
                                 "M", "", ""))
            out = [gga, ("GP", "GST", (hhmmss, "1.0", f"{sigma:.2f}", f"{sigma:.2f}", "0.0",
                                      f"{sigma:.2f}", f"{sigma:.2f}", "3.0"))]
            rmc = ("GP", "RMC", (hhmmss, "A", la, ns, lo, ew, "0.5", "0.0",
                                 now.strftime("%d%m%y"), "", ""))
        else:
            out = [("GP", "GGA", (hhmmss, "", "", "", "", "0", "00", "99.9", "", "M", "", "M",
                                  "", ""))]
            rmc = ("GP", "RMC", (hhmmss, "V", "", "", "", "", "", "", now.strftime("%d%m%y"),
                                 "", ""))
        out.append(rmc)
        return [str(getattr(pynmea2, kind)(talker, kind, fields)) for talker, kind, fields in out]

    # -- transport -------------------------------------------------------------------------
    def serve_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fds += [master, slave]
        self._thread = threading.Thread(target=self._emit, args=(master,), name="gps-sim",
                                        daemon=True)
        self._thread.start()
        return os.ttyname(slave)

    def _emit(self, fd: int) -> None:
        while not self._stop.wait(self.period):
            data = "".join(s + "\r\n" for s in self.sentences()).encode("ascii")
            try:
                os.write(fd, data)
            except OSError:
                return
            self.sent += 1
            if self.has_fix:
                self.travelled_m += self.step_m

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        close_fds(self._fds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devices.sim.gps", description=__doc__.splitlines()[0])
    ap.add_argument("--pty", action="store_true", required=True, help="serve on a new pty")
    ap.add_argument("--period", type=float, default=1.0, help="seconds between fixes")
    args = ap.parse_args(argv)
    sim = GpsSim(period=args.period)
    print(sim.serve_pty(), flush=True)
    try:
        answer_commands(sim)
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
