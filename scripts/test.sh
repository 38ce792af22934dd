#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite. Extra arguments go to pytest.
# Fails when a test fails and when no test ran (pytest exits 5 then).
# The suite runs in CHAOSHOU_TEST_WORKERS processes (pytest-xdist, default 3: most tests
# wait on gateway processes, ptys and the GL driver rather than on a core); each test
# module stays in one process (--dist loadscope), so its module fixtures are made once.
# CHAOSHOU_TEST_WORKERS=0 runs everything in this one process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
workers=${CHAOSHOU_TEST_WORKERS:-3}
if [ "$workers" = 0 ]; then
  exec "${VENV:-.venv}/bin/python" -m pytest -q "$@"
fi
exec "${VENV:-.venv}/bin/python" -m pytest -q -n "$workers" --dist loadscope "$@"
