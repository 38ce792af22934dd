"""Suite-wide configuration: hypothesis runs and the deadline factor.

Hypothesis — every run explores with a fresh seed, printed in the header of every run (CI
included) so that any failure can be replayed with `--hypothesis-seed=N`; a failing example
found once is then kept in the test as an `@example`. The example database is off
(`database=None`, and a forced seed bypasses it anyway): what a run finds depends only on
the code, the seed and the `@example`s, so a database left on one machine can neither hide
a failure nor make one appear that a fresh clone does not see. `derandomize` is not used
for the property tests (it would never explore past the first examples); the schema fuzz
test sets it itself because its failures are replayed from the report. No hypothesis
`deadline`: a per-example time limit is a timing assertion, and a busy machine breaks it.

Set `CHAOSHOU_HYPOTHESIS_SEED` to fix the seed without a pytest option (scripts pass it on).
Deadlines of waits: tests/deadline.py (`CHAOSHOU_TEST_TIMEOUT_FACTOR`).
"""
from __future__ import annotations

import os
import secrets

import pytest
from hypothesis import core, settings

from tests import deadline

pytest_plugins = ["tests.engines"]   # gateway database engines (SQLite, PostgreSQL)

SEED = pytest.StashKey[object]()

settings.register_profile("chaoshou", database=None, deadline=None, print_blob=True)
settings.load_profile("chaoshou")


def pytest_configure(config):
    seed = config.getoption("hypothesis_seed", None)
    if seed is None:
        seed = int(os.environ.get("CHAOSHOU_HYPOTHESIS_SEED") or secrets.randbelow(2 ** 32))
        core.global_force_seed = seed
        config.option.hypothesis_seed = str(seed)   # handed on to pytest-xdist workers
    config.stash[SEED] = seed


def pytest_report_header(config):
    seed = config.stash.get(SEED, None)
    return [f"hypothesis seed: {seed} (replay: --hypothesis-seed={seed})",
            f"wait deadlines: x{deadline.factor():g} ({deadline.ENV})"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # also at the end (and with -q, which hides the header), where a failure is read
    seed = config.stash.get(SEED, None)
    terminalreporter.write_line(f"hypothesis seed {seed} (replay: --hypothesis-seed={seed}); "
                                f"wait deadlines x{deadline.factor():g} ({deadline.ENV})")
