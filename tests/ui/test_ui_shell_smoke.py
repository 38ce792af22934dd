"""`python main.py --demo --smoke`: the whole demo (gateway, simulators, enrolment) comes up
in a fresh process, the login screen is drawn and screenshotted, and the process exits 0."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.deadline import seconds

ROOT = Path(__file__).resolve().parents[2]


def test_demo_smoke_reaches_login(tmp_path):
    demo = tmp_path / "demo"
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env["KIVY_HOME"] = str(tmp_path / "kivy")
    proc = subprocess.run([sys.executable, "main.py", "--demo", "--smoke", "--demo-data", str(demo)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds(180))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "login screen drawn" in proc.stdout
    assert f"PNG in {(demo / 'receipts').resolve()}" in proc.stdout
    shot = demo / "smoke-login.png"
    assert shot.exists() and shot.stat().st_size > 10_000
    conn = sqlite3.connect(demo / "device" / "chaoshou.db")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert meta["device_id"] and meta["device_token"]
    assert conn.execute("SELECT COUNT(*) FROM operators").fetchone()[0] >= 5
    assert conn.execute("SELECT COUNT(*) FROM receipt_blocks").fetchone()[0] >= 1
    gw = sqlite3.connect(demo / "gateway" / "gateway.db")
    assigned = {r[0] for r in gw.execute("SELECT route_id FROM routes WHERE device_id=?",
                                         (meta["device_id"],))}
    assert {"R001", "R002", "R003"} <= assigned
