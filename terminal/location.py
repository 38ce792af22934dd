"""Where a capture was made: a GPS fix as it is recorded with a reading or a payment.

The device side (devices/location: Android location, an NMEA receiver on a serial port, a
simulator) delivers the last fix: position, accuracy in metres and when it was taken. What
is recorded is that fix *assessed* at the moment of the capture (docs/contracts.md §2):

    {"lat", "lon", "accuracy_m", "age_s", "state"}

`age_s` is how old the fix was when the capture was saved, and `state` says whether it can
be trusted: "good"; "stale" when older than `max_age_s`; "inaccurate" when its accuracy is
worse than `max_accuracy_m` (stale wins when both hold). A doubtful fix is recorded as
such, never dropped nor passed off as good; no fix at all records `null`.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_AGE_S = 60
DEFAULT_MAX_ACCURACY_M = 50.0
STATES = ("good", "stale", "inaccurate")


@dataclass(frozen=True)
class Limits:
    max_age_s: float = DEFAULT_MAX_AGE_S
    max_accuracy_m: float = DEFAULT_MAX_ACCURACY_M


def assess(lat: float, lon: float, accuracy_m: float, fixed_at: float, now: float,
           limits: Limits = Limits()) -> dict:
    """The fix as recorded with a capture made at `now` (both times in epoch seconds)."""
    age = max(0, int(round(now - fixed_at)))
    if age > limits.max_age_s:
        state = "stale"
    elif accuracy_m > limits.max_accuracy_m:
        state = "inaccurate"
    else:
        state = "good"
    return {"lat": round(float(lat), 7), "lon": round(float(lon), 7),
            "accuracy_m": round(float(accuracy_m), 1), "age_s": age, "state": state}
