"""A day offline on a handheld, accelerated, through the real app: `python -m bench soak --json`.

Runs the soak test (tests/soak/test_soak_day_offline.py) at full size
(`CHAOSHOU_SOAK_SIZE=full`): a real gateway process with a 1,000-account route (R900), the
printer and ZVT simulators on ptys, the real Kivy app offscreen in its own process (and
its own sync worker process) walking 800 readings (50 with a photo from the simulated
camera) and 100 cash and 20 card payments on its screens, over 8 accelerated hours of
which hours 2 to 7 the gateway process is stopped. The test asserts that every capture is
at the gateway exactly once and every photo verified by hash; this module reports the
figures it writes (`CHAOSHOU_SOAK_REPORT`): the app's RSS each hour (UI process, and the UI
process with its sync worker) and its growth from the first hour (`rss_growth_pct` for
the whole app, `rss_ui_growth_pct` for the UI process alone), receipts the collector had
to reprint, database and photo folder sizes, the wall time of the walk.

The soak is a test rather than bench code because the hands that tap the app are the UI
test harness, which lives in tests/ and which this packaged module must not import (the
test's docstring says more); this module runs it as the suite does, in a pytest process,
from a source checkout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import row

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/soak/test_soak_day_offline.py"


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="chaoshou-soak-") as tmp:
        report = Path(tmp) / "soak.json"
        env = dict(os.environ, CHAOSHOU_SOAK_SIZE="full", CHAOSHOU_SOAK_REPORT=str(report))
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                               "no:cacheprovider", TEST], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0 or not report.exists():
            raise RuntimeError(f"the soak failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}")
        f = json.loads(report.read_text())
    ui = f["rss_ui_mb_per_hour"]
    hourly = {"ui_mb": ui, "app_mb": f["rss_app_mb_per_hour"]}
    return [row("soak.captures_at_gateway_once", f["ops_at_gateway_once"], "ops"),
            row("soak.photos_verified", f["photos_verified"], "photos"),
            row("soak.pending_while_offline_max", max(f["pending_offline"]), "ops"),
            row("soak.receipts_reprinted", f["receipts_reprinted"], "receipts"),
            row("soak.rss_first_hour_mb", f["rss_app_mb_per_hour"][0], "MB", **hourly),
            row("soak.rss_growth_pct", f["rss_growth_pct"], "%"),
            row("soak.rss_ui_growth_pct", (max(ui[1:]) - ui[0]) / ui[0] * 100, "%"),
            row("soak.db_mb", f["db_mb"], "MB"),
            row("soak.photo_folder_mb", f["photo_folder_mb"], "MB"),
            row("soak.day_walked_s", f["walked_s"], "s")]
