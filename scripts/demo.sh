#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: gateway + simulated devices + app on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec "${VENV:-.venv}/bin/python" main.py --demo "$@"
