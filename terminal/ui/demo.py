"""Everything on one machine for `python main.py --demo`: a gateway seeded with the demo
utility on loopback, the ZVT card terminal and ESC/POS printer simulators on
pseudo-terminals (threads in this process), this device enrolled with DEMO-ENROL, reference
data and a receipt-number block fetched, and the demo routes assigned to this device.

Layout under the demo folder (default ./demo-data):
    gateway/gateway.db   the gateway's database (seeded once, kept between runs)
    device/              the app's data (store, chaoshou.ini)
    receipts/            every printed receipt as a PNG (job-NNNN.png), drawn by the simulator
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_ROUTES = (("R001", "1001"), ("R002", "1002"), ("R003", "3001"))
DEMO_ENROL_CODE = "DEMO-ENROL"


@dataclass
class Demo:
    root: Path
    gateway_url: str = ""
    printer_url: str = ""
    terminal_url: str = ""
    device_id: str = ""
    _gateway: object = None
    _printer: object = None
    _terminal: object = None
    _closers: list = field(default_factory=list)

    @property
    def receipts_dir(self) -> Path:
        return self.root / "receipts"

    @property
    def device_dir(self) -> Path:
        return self.root / "device"

    def start(self) -> "Demo":
        self.root.mkdir(parents=True, exist_ok=True)
        self.receipts_dir.mkdir(exist_ok=True)
        self.device_dir.mkdir(exist_ok=True)
        try:
            self._start_gateway()
            self._start_devices()
            self._enrol()
        except BaseException:
            self.close()
            raise
        return self

    def _start_gateway(self) -> None:
        from sync.gateway.testing import GatewayProcess
        (self.root / "gateway").mkdir(exist_ok=True)
        self._gateway = GatewayProcess(self.root / "gateway" / "gateway.db", seed_demo=True)
        self.gateway_url = self._gateway.start(timeout=60)
        self._closers.append(self._gateway.stop)
        log.info("demo gateway at %s", self.gateway_url)

    def _start_devices(self) -> None:
        from devices.sim.printer import PrinterSim
        from devices.sim.zvt import ZvtSimulator
        self._printer = PrinterSim(self.receipts_dir, idle_gap=0.5)
        self.printer_url = self._printer.serve_pty()
        self._closers.append(self._printer.close)
        self._terminal = ZvtSimulator()
        self.terminal_url = self._terminal.serve_pty()
        self._closers.append(self._terminal.close)
        log.info("demo printer on %s, card terminal on %s", self.printer_url, self.terminal_url)

    def _enrol(self) -> None:
        """Enrol (once), refresh reference data and receipt numbers, assign the demo routes."""
        from sync.client import SyncClient
        from sync.gateway.testing import assign_route
        from terminal.store import Store
        store = Store(self.device_dir / "chaoshou.db")
        client = SyncClient(store, self.gateway_url)
        try:
            if store.get_meta("device_token"):
                store.set_meta("gateway_url", self.gateway_url)   # the port may have changed
                client.base_url = self.gateway_url
                try:
                    client.refresh_reference()
                except Exception as exc:  # an old enrolment of another gateway: enrol again
                    log.warning("demo: re-enrolling (%s)", exc)
                    client.enrol(self.gateway_url, DEMO_ENROL_CODE, "demo handheld")
                    client.refresh_reference()
            else:
                client.enrol(self.gateway_url, DEMO_ENROL_CODE, "demo handheld")
                client.refresh_reference()
            self.device_id = store.get_meta("device_id")
        finally:
            client.close()
            store.close()
        for route_id, operator_id in DEMO_ROUTES:
            assign_route(self.gateway_url, route_id, self.device_id, operator_id, reason="demo")

    def config_overrides(self) -> dict:
        return {"gateway": {"url": self.gateway_url, "device_name": "demo handheld"},
                "devices": {"printer_url": self.printer_url, "printer_baud": "9600",
                            "terminal_url": self.terminal_url, "terminal_baud": "9600"}}

    def banner(self) -> str:
        return (f"演示模式：收据图片保存在 {self.receipts_dir.resolve()}\n"
                f"Demo: printed receipts are saved as PNG in {self.receipts_dir.resolve()}\n"
                "操作员 Operators: 1001 / 1002 抄表 reader, 2001 收费 collector, "
                "3001 抄表+收费, PIN 1234; 9001 主管 supervisor, PIN 9999")

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # shutting down: report, keep closing the rest
                log.exception("demo shutdown step failed")
