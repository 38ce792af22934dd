"""Rigs of the UI tests that need no Kivy: a device store enrolled directly, a real gateway
process with supervisor helpers, the printer and ZVT simulators on ptys, and the reusable
login / assign / route-download flows (tests/ui/conftest.py makes fixtures of them)."""
from __future__ import annotations

import contextlib
from pathlib import Path

from terminal.store import Store

def enrol_store(db_path: Path, gateway_url: str, code: str = "DEMO-ENROL") -> str:
    """Enrol a device store directly (no UI) and fetch its reference data."""
    from sync.client import SyncClient
    store = Store(db_path)
    client = SyncClient(store, gateway_url)
    try:
        device_id = client.enrol(gateway_url, code, "test-handheld")
        client.refresh_reference()
        return device_id
    finally:
        client.close()
        store.close()


class Flows:
    """Reusable UI flows (scenario 1's first part) for every UI test."""

    @staticmethod
    def login(ui: UI, operator: str = "1001", pin: str = "1234", shot: bool = True) -> None:
        ui.wait_screen("login")
        ui.tap("operator_field")
        ui.keypad(operator)               # OK moves to the PIN field
        ui.keypad(pin)                    # OK logs in (PIN hash checked on a worker thread)
        ui.wait_screen("home")
        if shot:
            ui.shot(f"home-{operator}")

    @staticmethod
    def assign(gateway, route_id: str, device_id: str, operator_id: str,
               reason: str = "test assignment") -> dict:
        """Assign a route to a device and reader on the gateway (as a supervisor would)."""
        return gateway.supervisor("POST", f"/routes/{route_id}/assign",
                                  json={"operator_id": operator_id, "device_id": device_id,
                                        "reason": reason})

    @staticmethod
    def download_route(ui: UI, route_id: str = "R001", timeout: float = 30.0, gateway=None) -> int:
        """From home: Routes → download `route_id`; waits until it is live in the store.
        With `gateway`, first assigns the route to this device and the logged-in reader."""
        if gateway is not None:
            Flows.assign(gateway, route_id, ui.store.get_meta("device_id"),
                         ui.services.operator["operator_id"])
        if ui.app.sm.current != "routes":
            ui.tap("tile_routes")
            ui.wait_screen("routes")
        ui.wait_for(lambda: ui.exists(f"download_{route_id}"), 15, f"route {route_id} listed")
        ui.shot(f"routes-before-{route_id}")
        # The download the tap asks for ends with a new snapshot in the store (each
        # download is one): a "done" without it is an earlier download's (the one an
        # assignment started), whose status may arrive after the tap. A tap while the
        # worker downloads this route is served by that download (the request is dropped
        # when it ends), so the tap waits until the worker is between cycles.
        ui.wait_for(lambda: ui.services.sync_state != "syncing"
                    and (ui.services.download or {}).get("state") != "running", timeout,
                    "the sync worker between cycles")

        def snapshot():
            row = ui.store.conn.execute("SELECT snapshot_id FROM routes WHERE route_id=?",
                                        (route_id,)).fetchone()
            return row[0] if row else None
        before = snapshot()
        ui.tap(f"download_{route_id}")
        ui.wait_for(lambda: snapshot() not in (None, before), timeout,
                    f"route {route_id} in the store")
        ui.wait_for(lambda: (ui.services.download or {}).get("state") == "done", timeout,
                    "download finished")
        count = ui.store.conn.execute(
            "SELECT COUNT(*) FROM accounts WHERE route_id=?", (route_id,)).fetchone()[0]
        screen = ui.screen

        def ready():
            button = screen.ids.get(f"open_{route_id}")
            return (not screen.loading and button is not None and button.parent is not None
                    and not button.disabled and button.get_root_window() is not None)
        ui.wait_for(ready, timeout, f"route {route_id} ready to open")
        ui.shot(f"routes-after-{route_id}")
        return count


class Gateway:
    """A real gateway process (sync.gateway.testing.GatewayProcess) with supervisor helpers."""

    def __init__(self, process):
        self.process = process
        self.url = process.base_url
        self._engine = None

    def stop(self):
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self.process.stop()

    def start(self):
        self.process.start()

    def supervisor(self, method: str, path: str, **kw):
        import requests
        from sync.gateway.testing import supervisor_token
        token = supervisor_token(self.url)
        r = requests.request(method, self.url + "/v1/supervisor" + path,
                             headers={"Authorization": f"Bearer {token}"}, timeout=15, **kw)
        r.raise_for_status()
        return r.json()

    def query(self, sql: str, params=()):
        """Rows (as dicts) of a SELECT with `?` parameters, read through the gateway's
        database URL (SQLAlchemy), as every test reads the gateway's state."""
        from sqlalchemy import create_engine
        if self._engine is None:
            self._engine = create_engine(self.process.url)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.exec_driver_sql(sql, tuple(params))]


@contextlib.contextmanager
def start_gateway(data_dir: Path, **options):
    """A real gateway process on loopback, seeded with the demo utility."""
    from sync.gateway.testing import GatewayProcess
    data_dir.mkdir(parents=True, exist_ok=True)
    process = GatewayProcess(data_dir / "gateway.db", seed_demo=True, **options)
    process.start()
    try:
        yield Gateway(process)
    finally:
        process.stop()


class _Sim:
    def __init__(self, sim, url, out_dir=None):
        self.sim, self.url, self.out_dir = sim, url, out_dir


@contextlib.contextmanager
def printer_on_pty(out_dir: Path):
    from devices.sim.printer import PrinterSim
    sim = PrinterSim(out_dir, idle_gap=0.3)
    try:
        yield _Sim(sim, sim.serve_pty(), out_dir)
    finally:
        sim.close()


@contextlib.contextmanager
def zvt_on_pty(**options):
    from devices.sim.zvt import ZvtSimulator
    sim = ZvtSimulator(**options)
    try:
        yield _Sim(sim, sim.serve_pty())
    finally:
        sim.close()
