"""A day offline on a handheld, accelerated (README "Benchmarks", `soak`).

Four kinds of process, as in the field: a real gateway process (route R900 of N generated
accounts), the ESC/POS printer and ZVT card terminal simulators on ptys (here, the
driver's process), the real Kivy app offscreen in its own process with its own sync worker
process (tests/soak/app.py), and this driver. The day is walked in 8 hours (the clock is
the loop, not the wall): each hour the app walks an eighth of the route's readings on its
reading screen (values keyed on the keypad; every so often skip code S04 with a note and a
photo from the simulated camera), then an eighth of the cash and card payments on the
payment screen. Hours 2 to 7 the network is absent for real: the gateway process is
stopped, its port refuses, and the app keeps capturing; in hour 8 it is back and the app's
own sync worker drains everything. The app's resident memory (its UI process and the
sync worker it started, from /proc/PID/status) is sampled at the end of every hour.

Asserted: every capture of the device is at the gateway exactly once (by op_id, and by
kind: readings and payments), nothing left the device while the gateway was down, every
photo is at the gateway with the bytes its hash names. Reported (figures, not asserted):
RSS per hour and its growth from the first hour, the database and photo folder sizes,
the wall time.

Why a test and not bench code: the hands that tap have to be in the app's process (touches
are injected into Kivy's event loop), and those hands are the UI test harness
(tests/ui/conftest.py and the UI tests' flows) — test code, which the packaged `bench`
must not import. So the soak lives here; the default suite walks a short day (a
50-account route: 40 readings, 3 photos, 5 cash and 1 card payment), and
`python -m bench soak` runs this same test at full size (`CHAOSHOU_SOAK_SIZE=full`:
1,000 accounts, 800 readings, 50 photos, 100 cash and 20 card payments) and reports the
figures it writes to `CHAOSHOU_SOAK_REPORT`.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from sync.gateway.testing import GatewayProcess
from tests.deadline import Deadline, seconds, wait_until
from tests.ui.rigs import Flows, Gateway, printer_on_pty, zvt_on_pty

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"short": dict(accounts=50, readings=40, photos=3, cash=5, card=1),
         "full": dict(accounts=1000, readings=800, photos=50, cash=100, card=20)}
HOURS, OFFLINE = 8, range(1, 7)          # hours 2..7 (0-based 1..6) without network
ROUTE, OPERATOR = "R900", "3001"         # 3001 reads and collects (demo utility)
CASH_FEN, CARD_FEN = 1000, 2000


def share(total: int, hour: int) -> range:
    return range(total * hour // HOURS, total * (hour + 1) // HOURS)


def rss_kb(pid: int) -> int:
    """VmRSS of one process, from /proc (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for kid in kids:
            out += [kid, *descendants(kid)]
    return out


class AppProcess:
    """tests/soak/app.py in its own process; `call(do=…, **args)` sends one command."""

    def __init__(self, data_dir: Path, gateway_url: str, printer_url: str, terminal_url: str):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("DISPLAY", None)
        self.log = open(data_dir / "app.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.soak.app", str(data_dir), gateway_url, printer_url,
             terminal_url], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.pid = self.proc.pid
        self.hello = self.answer(120, "the app started")

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("SOAK "):
                self.lines.put(json.loads(line[5:]))
        self.lines.put(None)

    def answer(self, base: float, what: str) -> dict:
        deadline = Deadline(base, what)
        try:
            got = self.lines.get(timeout=deadline.left())
        except queue.Empty:
            deadline.check(self.tail())
            raise
        if got is None:
            raise AssertionError(f"the app exited during {what}: {self.tail()}")
        if "error" in got:
            raise AssertionError(f"{what}: {got['error']}\n{self.tail()}")
        return got

    def call(self, base: float = 120, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        return self.answer(base, json.dumps(cmd, ensure_ascii=False))

    def rss_kb(self) -> tuple[int, int]:
        """(the UI process, the UI process and the processes it started)."""
        ui = rss_kb(self.pid)
        return ui, ui + sum(rss_kb(p) for p in descendants(self.pid))

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_bytes()[-3000:].decode("utf-8", "replace")

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"do": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(seconds(60))
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def walk_the_day(tmp: Path, accounts: int, readings: int, photos: int, cash: int,
                 card: int) -> dict:
    """The soak; returns its figures (see the module docstring)."""
    from terminal import photos as photo_store
    from terminal.store import Store
    process = GatewayProcess(tmp / "gateway" / "gateway.db",
                             args=["--bench-route-accounts", str(accounts)])
    (tmp / "gateway").mkdir(parents=True)
    process.start(timeout=seconds(120))
    gateway = Gateway(process)
    app = None
    try:
        with printer_on_pty(tmp / "receipts") as printer, zvt_on_pty() as zvt:
            app = AppProcess(tmp, gateway.url, printer.url, zvt.url)
            device_id = app.hello["device_id"]
            Flows.assign(gateway, ROUTE, device_id, OPERATOR, reason="soak")
            app.call(do="setup", base=240, route_id=ROUTE, operator=OPERATOR, float="50000")
            nos = [r["account_no"] for r in gateway.query(
                "SELECT account_no FROM accounts WHERE route_id=? ORDER BY seq", (ROUTE,))]
            assert len(nos) >= readings + cash + card
            with_photo = {i * readings // photos for i in range(photos)}
            rss, pending, shas, reprints = [], [], [], 0
            started = time.perf_counter()
            for hour in range(HOURS):
                if hour == OFFLINE.start:
                    gateway.stop()
                elif hour == OFFLINE.stop:
                    gateway.start()
                for i in share(readings, hour):
                    got = app.call(do="reading", account_no=nos[i], photo=i in with_photo)
                    if got["photo"]:
                        shas.append(got["photo"])
                for i in share(cash, hour):
                    reprints += app.call(do="cash", base=240, account_no=nos[readings + i],
                                         amount_fen=CASH_FEN)["reprints"]
                for i in share(card, hour):
                    reprints += app.call(do="card", base=240, account_no=nos[readings + cash + i],
                                         amount_fen=CARD_FEN)["reprints"]
                if hour in OFFLINE:
                    pending.append(app.call(do="status")["pending"])
                else:      # online: the app's own worker sends everything, photos after ops
                    wait_until(lambda: (lambda s: s["pending"] == s["photos_pending"] == 0)(
                        app.call(do="status")), 300 if hour == OFFLINE.stop else 120,
                        f"hour {hour + 1}: outbox and photos drained by the app")
                    pending.append(0)
                rss.append(app.rss_kb())
            walked = time.perf_counter() - started
            app.quit()
    finally:
        if app is not None:
            app.quit()
        process.stop()

    # nothing left the device while the gateway was down: the outbox only grew
    offline = pending[OFFLINE.start:OFFLINE.stop]
    assert offline == sorted(offline) and offline[-1] > offline[0], pending
    device_db = tmp / "device" / "chaoshou.db"
    local = sqlite3.connect(f"file:{device_db}?mode=ro", uri=True)
    try:
        local_ops = {r[0]: r[1] for r in local.execute("SELECT op_id, state FROM outbox")}
        local_photos = {r[0] for r in local.execute("SELECT sha256 FROM photos")}
    finally:
        local.close()
    held = [r["op_id"] for r in gateway.query("SELECT op_id FROM sync_ops WHERE device_id=?",
                                              (device_id,))]
    assert len(held) == len(set(held)), "an op is at the gateway twice"
    assert set(held) == set(local_ops) and set(local_ops.values()) == {"accepted"}
    kinds = {k: gateway.query(f"SELECT COUNT(*) AS n FROM {k} WHERE device_id=?",
                              (device_id,))[0]["n"] for k in ("readings", "payments")}
    assert kinds == {"readings": readings, "payments": cash + card}, kinds
    assert len(shas) == len(set(shas)) == photos and set(shas) == local_photos
    blobs = Path(str(process.db_path) + ".blobs")
    for sha in shas:
        assert hashlib.sha256((blobs / sha).read_bytes()).hexdigest() == sha
    store = Store(device_db)
    try:
        photo_bytes = photo_store.folder_bytes(store)
    finally:
        store.close()
    db_bytes = sum(p.stat().st_size for p in device_db.parent.glob("chaoshou.db*"))
    first = rss[0][1]
    return {"ops_at_gateway_once": len(held), "photos_verified": len(shas),
            "pending_offline": offline,
            "rss_ui_mb_per_hour": [round(u / 1024, 1) for u, _ in rss],
            "rss_app_mb_per_hour": [round(t / 1024, 1) for _, t in rss],
            "rss_growth_pct": (max(t for _, t in rss[1:]) - first) / first * 100,
            "receipts_reprinted": reprints,
            "db_mb": db_bytes / 2**20, "photo_folder_mb": photo_bytes / 2**20,
            "walked_s": walked}


def test_a_day_offline_walked_through_the_app(tmp_path):
    size = os.environ.get("CHAOSHOU_SOAK_SIZE", "short")
    figures = walk_the_day(tmp_path, **SIZES[size])
    print(json.dumps(figures))
    report = os.environ.get("CHAOSHOU_SOAK_REPORT")
    if report:
        Path(report).write_text(json.dumps(dict(figures, size=size, **SIZES[size])))
