#!/usr/bin/env bash
# Run the whole test suite (./scripts/test.sh; extra arguments go to pytest) while two
# CPU-burning processes run beside it — a machine as busy as a shared 2-core CI runner.
# The script starts the burners and stops them when it ends, however it ends (trap on exit;
# Ctrl-C or TERM also interrupt the suite), and each burner stops by itself once this
# script is gone, even killed.
# Deadlines in the tests are not raised here: the suite must pass under this load as it is
# (CHAOSHOU_TEST_TIMEOUT_FACTOR from the caller's environment still applies).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
BURN='import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:        # stop once the script that started us is gone
    for _ in range(200_000):
        pass'

burners=()
stop_burners() {
    for pid in "${burners[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${burners[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    burners=()
}
trap stop_burners EXIT

for _ in 1 2; do
    "$PYTHON" -c "$BURN" "$$" &
    burners+=("$!")
done
echo "stress-test: CPU burners running (pids ${burners[*]}); whole suite follows" >&2

start=$(date +%s)
status=0
# the suite runs in a process group of its own with SIGINT handled as usual (a script's
# background job would ignore it), so that Ctrl-C or TERM sent to this script reaches
# pytest as an interrupt: it stops its gateways and simulators on its way out
"$PYTHON" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgrp()
os.execvp(sys.argv[1], sys.argv[1:])' ./scripts/test.sh "$@" &
suite=$!
interrupted() {
    kill -INT -- "-$suite" 2>/dev/null || true
    wait "$suite" 2>/dev/null || true
    exit "$1"
}
trap 'interrupted 130' INT
trap 'interrupted 143' TERM
wait "$suite" || status=$?
echo "stress-test: suite exit status $status after $(( $(date +%s) - start )) s beside two CPU burners" >&2
exit "$status"
