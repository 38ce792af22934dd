#!/usr/bin/env bash
# Set up a virtual environment with everything the tests need and run them.
# Fails when a test fails and when no test ran (pytest exits 5 then).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[app,gateway,dev]"
exec "$VENV/bin/python" -m pytest -q "$@"
