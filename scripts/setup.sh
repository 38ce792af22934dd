#!/usr/bin/env bash
# Prepare this machine for Chaoshou: system packages (when run as root on Debian/Ubuntu:
# CJK font, Mesa GL, and PostgreSQL, whose server the gateway tests start as a throw-away
# cluster — tests/engines.py) and a virtual environment with the extras named in $EXTRAS.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-app,gateway,dev}
PACKAGES="fonts-noto-cjk fonts-babelstone-han fonts-hanazono libgl1 libegl1 libgl1-mesa-dri libmtdev1 openssl postgresql postgresql-contrib"
need_apt=0
for pkg in $PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
  else
    echo "Missing system packages ($PACKAGES); install them as root." >&2
  fi
fi
# Browser tests (tests/browser): the distribution's chromium, driven by Playwright with that
# executable (no browser download). Root only; without it those tests are skipped.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || echo "Could not install chromium: the browser tests will be skipped." >&2
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
