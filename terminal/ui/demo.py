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
    _sandbox: object = None
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
        from sync.sandbox_platform.process import SandboxProcess   # pays as 支付宝 (sandbox)
        self._sandbox = SandboxProcess(self.gateway_url, platform="alipay", retry_base=1.0)
        self._sandbox.start()
        self._closers.append(self._sandbox.stop)
        log.info("demo payment platform at %s", self._sandbox.base_url)

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
                "3001 抄表+收费, PIN 1234; 9001 主管 supervisor, PIN 99999999\n"
                f"客户缴费页 Customer pages: {self.gateway_url}/pay · "
                f"支付宝沙箱 sandbox platform: {self._sandbox.base_url}/trades")

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # shutting down: report, keep closing the rest
                log.exception("demo shutdown step failed")


def screenshot_tour(out_dir: Path, demo_root: Path) -> list[Path]:
    """Render the shell's screens with the demo running and save docs/img/ui-<screen>.png.

        python -m terminal.ui.demo screenshots docs/img [--demo-data DIR]
    """
    import shutil
    import tempfile
    import time

    from terminal.ui import headless
    headless.prepare(tempfile.mkdtemp(prefix="chaoshou-kivy-"), headless=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from terminal.ui.app import ChaoshouApp

    out_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(demo_root).start()
    made: list[Path] = []
    try:
        app = ChaoshouApp(demo.device_dir, demo=demo, config_overrides=demo.config_overrides(),
                          worker_options={"period": 2.0})
        EventLoop.ensure_window()
        app._run_prepare()

        def wait(cond, timeout=30.0):
            deadline = time.monotonic() + timeout
            while not cond():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"screenshot tour: waiting for {cond} on {app.sm.current}")
                EventLoop.idle()
            for _ in range(4):
                EventLoop.idle()

        def shot(name):
            tmp = Path(tempfile.mkdtemp())
            path = Path(Window.screenshot(name=str(tmp / "s.png")))
            target = out_dir / f"ui-{name}.png"
            shutil.move(str(path), target)
            made.append(target)

        def login(operator, pin):
            app.go("login")
            wait(lambda: app.sm.current == "login")
            screen = app.sm.current_screen
            screen.operator_no, screen.pin = operator, pin
            screen.submit()
            wait(lambda: app.sm.current == "home")

        app.go("enrol")
        wait(lambda: app.sm.current == "enrol")
        app.sm.current_screen.ids.code.text = "DEMO-ENROL"
        shot("enrol")
        app.go("login")
        wait(lambda: app.sm.current == "login")
        app.banner.clear()
        wait(lambda: app.sm.current == "login")
        shot("login")
        app.set_language("en")
        wait(lambda: app.lang == "en")
        shot("login-en")
        app.set_language("zh")
        login("3001", "1234")
        shot("home")
        app.go("routes")
        wait(lambda: app.sm.current == "routes" and app.services.sync_status.get("assignments")
             and app.services.download.get("state") != "running"
             and len(app.sm.current_screen.ids.rows.children) >= 3, 90)
        app.sm.current_screen.refresh()
        wait(lambda: not app.sm.current_screen.loading)
        shot("routes")
        app.go("sync")
        wait(lambda: app.sm.current == "sync")
        shot("sync")
        login("9001", "99999999")
        app.go("supervisor")
        screen = app.sm.get_screen("supervisor")
        screen.pin = "99999999"
        screen.connect()
        wait(lambda: screen.connected and screen.routes)
        shot("supervisor")
        screen.start_assign(screen.routes[1])
        screen.ids.assign_reason.text = "抄表员生病 reader sick"
        wait(lambda: screen.form == "assign")
        shot("supervisor-assign")
        app.go("settings")
        wait(lambda: "设备号" in app.sm.current_screen.about_text)
        shot("settings")
        app.shutdown()
    finally:
        demo.close()
    return made


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(prog="python -m terminal.ui.demo")
    parser.add_argument("command", choices=["screenshots"])
    parser.add_argument("out", help="folder for ui-<screen>.png")
    parser.add_argument("--demo-data", default=None, help="demo folder (default: a temporary one)")
    args = parser.parse_args()
    import tempfile
    root = Path(args.demo_data) if args.demo_data else Path(tempfile.mkdtemp(prefix="chaoshou-demo-"))
    for path in screenshot_tour(Path(args.out), root):
        print(path)
