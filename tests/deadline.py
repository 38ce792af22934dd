"""Every deadline of the test suite, from one place.

A test waits on a condition, never on time; the deadline only says when to give up. Each
deadline is a base figure in seconds, at least `MIN_WAIT` (the small figures written at
call sites were tuned on a quiet machine; a busy 2-core machine needs more), multiplied by
`CHAOSHOU_TEST_TIMEOUT_FACTOR` (default 1), so an even slower machine can give the whole
suite more time without touching a test:

    CHAOSHOU_TEST_TIMEOUT_FACTOR=3 ./scripts/test.sh

- `seconds(base)` — a scaled deadline (for `timeout=` arguments of waits).
- `wait_until(cond, base, what)` — poll `cond()` until truthy; returns its value, or raises
  `WaitTimeout` naming `what` when the scaled deadline passes.
- `Deadline(base, what)` — for loops that wait on something themselves (a pipe, a queue):
  `.left()` seconds remaining, `.check(detail)` raises once it has passed.

A fast machine pays nothing for generous bases: a wait ends as soon as its condition holds.
"""
from __future__ import annotations

import os
import time

ENV = "CHAOSHOU_TEST_TIMEOUT_FACTOR"
WAIT = 30.0      # the default base: a screen, a sync round, a print job, a process start
MIN_WAIT = 30.0  # no wait gives up sooner (times the factor)


class WaitTimeout(AssertionError):
    pass


def factor() -> float:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{ENV} must be > 0, not {value}")
    return value


def seconds(base: float = WAIT) -> float:
    """The deadline for a wait whose call site names `base` seconds."""
    return max(base, MIN_WAIT) * factor()


class Deadline:
    def __init__(self, base: float = WAIT, what: str = ""):
        self.limit = seconds(base)
        self.what = what
        self.end = time.monotonic() + self.limit

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() > self.end

    def check(self, detail: object = "") -> None:
        if self.passed():
            raise WaitTimeout(f"gave up after {self.limit:g} s waiting for {self.what}"
                              + (f": {detail}" if detail != "" else "")
                              + f" (more time: {ENV}, now {factor():g})")


def wait_until(cond, base: float = WAIT, what: str = "", *, poll: float = 0.01,
               detail=None):
    """Poll `cond()` until it returns something truthy and return that. The poll interval
    starts at `poll` and doubles up to 0.2 s. `detail()` (optional) is added to the error."""
    deadline = Deadline(base, what or getattr(cond, "__name__", "a condition"))
    pause = poll
    while True:
        value = cond()
        if value:
            return value
        deadline.check(detail() if detail else "")
        time.sleep(min(pause, deadline.left()))
        pause = min(pause * 2, 0.2)
