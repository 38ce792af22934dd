"""The app process of the soak (tests/soak/test_soak_day_offline.py): the real ChaoshouApp
offscreen, with its own sync worker process, driven through its screens by the UI test
harness (tests/ui/conftest.py `UI`, the flows of the UI tests).

    python -m tests.soak.app DATA_DIR GATEWAY_URL PRINTER_URL TERMINAL_URL

Touches are injected into Kivy's event loop, so the hands that tap live in this process;
what to do comes from the driver, one JSON command a line on stdin, and each answer is one
line `SOAK {json}` on stdout (Kivy's log goes to stderr):

- `{"do": "setup", "route_id", "operator", "float"}` — log in, download the route (already
  assigned to this device on the gateway), open a shift; answers the device id.
- `{"do": "reading", "account_no", "photo": bool}` — the reading screen for that account
  (if it is not there already), a value the meter's validation accepts keyed on the keypad
  and saved; with `photo`, skip code S04 (meter damaged: note and photo required) with a
  note and a photo from the simulated camera instead. Answers the photo's hash.
- `{"do": "cash", "account_no", "amount_fen"}` / `{"do": "card", ...}` — account → Collect
  → the amount keyed → Cash (the exact sum tendered) or Card (the ZVT simulator) → the
  receipt printed (the printer simulator); answers the receipt number.
- `{"do": "status"}` — pending ops, photos not yet uploaded, whether the app says online.
- `{"do": "quit"}`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

UI_TESTS = Path(__file__).resolve().parents[1] / "ui"
sys.path.insert(0, str(UI_TESTS))     # the UI tests import each other by bare name

from tests.ui.conftest import UI, Flows  # noqa: E402  (prepares headless Kivy first)
from test_ui_field_collect import card_pay, open_shift  # noqa: E402
from test_ui_field_due_agrees import pay_cash  # noqa: E402
from test_ui_field_reader import keyin, pick_value, popup_button, popup_open, touch  # noqa: E402

from sync.client import Backoff  # noqa: E402
from terminal import validation  # noqa: E402


def rolled_over(store, account_no: str) -> str:
    """The value a meter near the top of its dials shows after about a month's use: past
    zero again (the core asks to confirm a rollover)."""
    import datetime as dt
    row = store.conn.execute("SELECT * FROM meters WHERE account_no=?", (account_no,)).fetchone()
    meter = validation.MeterSpec.from_row(row)
    days = validation.days_between(meter.prev_date, dt.date.today())
    units = max(1, meter.avg_daily_wh * days * 10 ** meter.decimals // (1000 * meter.multiplier))
    return str(((meter.prev_value or 0) + units) % 10 ** meter.dials)


class Hands:
    def __init__(self, ui: UI):
        self.ui = ui
        self.route_id = ""

    def setup(self, route_id: str, operator: str, float: str) -> dict:
        ui = self.ui
        self.route_id = route_id
        Flows.login(ui, operator, "1234", shot=False)
        Flows.download_route(ui, route_id, timeout=120)
        ui.app.go("home")
        open_shift(ui, float)
        return {"device_id": ui.store.get_meta("device_id")}

    def _open(self, name: str, **params):
        """Screen `name` for `params`; a screen does not re-enter itself (app.go), so from
        the same screen the way is through home, as the operator's would be."""
        if self.ui.app.sm.current == name:
            self.ui.go("home")
        return self.ui.go(name, **params)

    def _entry(self, account_no: str):
        ui = self.ui
        reading = ui.screen
        if ui.app.sm.current != "reading" or reading.account_no != account_no:
            reading = self._open("reading", account_no=account_no, route_id=self.route_id)
        ui.wait_for(lambda: reading.loaded and reading.account_no == account_no
                    and not reading.busy, 10, f"reading entry for {account_no}")
        return reading

    def reading(self, account_no: str, photo: bool) -> dict:
        ui = self.ui
        reading = self._entry(account_no)
        sha = ""
        if photo:
            ui.tap("skip_code")
            ui.wait_for(popup_open, 5, "skip codes")
            touch(ui, popup_button("S04"))
            ui.wait_for(lambda: reading.skip_code == "S04" and not popup_open(), 5, "S04 chosen")
            ui.type("表盘破裂", into="note")
            ui.tap("photo")
            sha = ui.wait_for(lambda: reading.ids.photo.sha, 15, "photo kept")
        else:
            try:
                value = pick_value(ui.store, account_no, "ok")
            except AssertionError:            # no value up to the top of its dials
                value = rolled_over(ui.store, account_no)
            keyin(ui, value)
        ui.tap("save")

        def moved_on():
            return ui.app.sm.current != "reading" or reading.account_no != account_no
        for _check in range(3):     # what the core asks of an unusual value, as a reader does
            ui.wait_for(lambda: not reading.busy and (
                moved_on() or reading.awaiting in ("confirm", "reenter")
                or (reading.message and reading.level == "error")), 15, "reading saved")
            if moved_on() or not reading.awaiting:
                break
            if reading.awaiting == "reenter":       # blind re-entry: the same value again
                keyin(ui, value)
                ui.tap("save")
            else:                                   # a warning (a rollover): confirmed
                ui.tap("confirm")
        saved = ui.store.conn.execute("SELECT op_id FROM readings WHERE account_no=?",
                                      (account_no,)).fetchone()
        if saved is None:
            raise AssertionError(f"{account_no} not saved: {reading.message!r}")
        ui.wait_for(moved_on, 15, "the next unread account")
        return {"op_id": saved[0], "photo": sha}

    def pay(self, account_no: str, amount_fen: int, method: str) -> dict:
        """The UI tests' payment flows (account → Collect → amount keyed → Cash with the
        exact sum tendered, or Card), from home: a screen does not re-enter itself."""
        ui = self.ui
        ui.go("home")
        if method == "cash":
            pay, _shown = pay_cash(ui, account_no, amount_fen)
        else:
            pay = card_pay(ui, account_no, str(amount_fen))
            ui.wait_for(lambda: pay.stage == "done" and pay.receipt_no, 60, "card payment done")
        reprints = self.receipt_handed_over(pay)
        receipt = pay.receipt_no
        ui.tap("finish")
        return {"receipt_no": receipt, "reprints": reprints}

    def receipt_handed_over(self, pay, tries: int = 5) -> int:
        """Wait for the receipt before the next customer. When the printer needs attention
        (the simulator, like a printer, may answer its status query too late on a loaded
        machine), tap Reprint as the collector would; returns how many times."""
        ui, printed = self.ui, self.ui.app.tr("Printed.")
        for reprints in range(tries):
            ui.wait_for(lambda: pay.print_text == printed or popup_open(), 60, "the receipt")
            if not popup_open():
                return reprints
            ui.tap("reprint")
            ui.wait_for(lambda: not popup_open(), 10, "the printer popup closed")
        raise AssertionError(f"receipt {pay.receipt_no} not printed: {pay.print_text!r}")

    def status(self) -> dict:
        ui = self.ui
        ui.pump(3)
        def count(sql):
            return ui.store.conn.execute(f"SELECT COUNT(*) FROM {sql}").fetchone()[0]
        return {"pending": count("outbox WHERE state IN ('pending', 'inflight')"),
                "photos_pending": count("photos WHERE uploaded_at IS NULL"),
                "online": bool(ui.services.online)}


def main(argv: list[str]) -> int:
    data_dir, gateway_url, printer_url, terminal_url = argv
    (Path(data_dir) / "shots").mkdir(parents=True, exist_ok=True)
    ui = UI.start(artifacts=Path(data_dir) / "shots", data_dir=Path(data_dir) / "device",
                  gateway=SimpleNamespace(url=gateway_url), enrol=True,
                  printer=SimpleNamespace(url=printer_url),
                  terminal=SimpleNamespace(url=terminal_url),
                  config={"camera": {"kind": "sim"}},
                  worker_options={"backoff": Backoff(base=0.5, cap=2.0), "period": 1.0})
    hands = Hands(ui)
    print("SOAK " + json.dumps({"device_id": ui.store.get_meta("device_id")}), flush=True)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            do = cmd.pop("do")
            try:
                if do == "quit":
                    break
                if do in ("cash", "card"):
                    answer = hands.pay(method=do, **cmd)
                else:
                    answer = getattr(hands, do)(**cmd)
            except Exception as exc:        # the driver fails the soak with this
                ui.shot(f"failed-{do}")
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print("SOAK " + json.dumps(answer, ensure_ascii=False), flush=True)
    finally:
        ui.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
