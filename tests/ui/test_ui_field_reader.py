"""Scenario 1 (reader): login → download route → three readings (one normal, one out of
range with blind re-entry, one skipped with a code) → sync → the gateway holds exactly those.

Drives the real app offscreen with real taps against a real gateway process.
"""
import datetime as dt
import json

from kivy.core.window import Window

from terminal import validation


def pick_value(store, account_no: str, want: str) -> str:
    """A keyed value the core's validation rates `want` ('ok' or 'reenter') for this meter."""
    row = store.conn.execute("SELECT m.* FROM meters m WHERE m.account_no=?", (account_no,)).fetchone()
    meter = validation.MeterSpec.from_row(row)
    prev = meter.prev_value or 0
    days = validation.days_between(meter.prev_date, dt.date.today())
    expected_units = max(1, (meter.avg_daily_wh or 5000) * days * 10 ** meter.decimals
                         // (1000 * meter.multiplier))
    factors = (1.0, 1.1, 0.9, 1.2, 0.8) if want == "ok" else (4, 8, 3, 16, 30)
    for f in factors:
        value = prev + max(1, int(expected_units * f))
        if value >= 10 ** meter.dials:
            continue
        a = validation.check_reading(str(value), meter, read_date=dt.date.today())
        if a.value is not None and not a.blocking and a.need == (None if want == "ok" else "reenter"):
            return str(value)
    raise AssertionError(f"no {want} value found for {account_no}")


def touch(ui, widget):
    """A real tap on a widget inside a RecycleView (ui.tap scrolls ScrollViews, which a
    RecycleView's own layout does not support)."""
    ui.settle()
    ui.touch_at(*widget.to_window(*widget.center))


def tap_tile(ui, target: str):
    """Tap the home screen's tile that opens `target`."""
    from kivy.core.window import Window as W
    ui.wait_screen("home")

    def laid_out_tile():
        tile = next((t for t in ui.screen.ids.tiles.children if getattr(t, "target", None) == target), None)
        if tile is None:
            return None
        x, y = tile.to_window(*tile.center)
        return tile if 0 <= x < W.width and 0 <= y < W.height else None
    ui.tap(ui.wait_for(laid_out_tile, 5, f"tile {target} laid out"))
    return ui.wait_screen(target)


def assign(gateway, ui, route_id="R001", operator_id="1001"):
    device_id = ui.store.get_meta("device_id")
    gateway.supervisor("POST", f"/routes/{route_id}/assign",
                       json={"operator_id": operator_id, "device_id": device_id, "reason": "test"})
    return device_id


def keyin(ui, digits: str, *, enter: bool = False) -> None:
    """Tap digits on the visible keypad and check each one registered. A message banner
    appearing or timing out moves the screen under a tap, so it is tapped away first (as
    the operator would) and a tap that did not register is repeated once."""
    from terminal.ui.widgets import NumericKeypad
    pad = next(w for w in ui.screen.walk(restrict=True)
               if isinstance(w, NumericKeypad) and w.opacity > 0 and not w.disabled)
    keys = {getattr(k, "key", None) or k.text: k for k in pad.children}
    for d in digits:
        want = (pad.value + d).lstrip("0")
        for attempt in range(2):
            if ui.app.banner.shown:
                ui.app.banner.clear()
                ui.pump(2)
            ui.tap(keys[d], pump=2)
            try:
                ui.wait_for(lambda: pad.value.lstrip("0") == want, 1, f"key {d} registered")
                break
            except AssertionError:
                if attempt or pad.value.lstrip("0") != want[:-1]:
                    raise
    if enter:
        ui.tap(keys["enter"])


def popup_open() -> bool:
    from kivy.uix.modalview import ModalView
    return any(isinstance(w, ModalView) for w in Window.children)


def popup_button(text_part: str):
    """A button of the open choice popup whose text contains `text_part`."""
    from kivy.uix.button import Button
    for top in Window.children:
        for w in top.walk(restrict=True):
            if isinstance(w, Button) and text_part in (w.text or ""):
                return w
    raise LookupError(f"no popup button with {text_part!r}")


def test_reader_three_readings_with_blind_reentry_and_skip_reach_the_gateway(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    device_id = assign(gateway, ui, "R001", "1001")
    ui_flows.login(ui, "1001", "1234")
    ui_flows.download_route(ui, "R001")
    ui.tap("open_R001")
    walk = ui.wait_screen("walk")
    ui.wait_for(lambda: len(walk.ids.rv.data) > 0, 10, "walk rows")
    ui.shot("walk")
    order = [r["account_no"] for r in walk.ids.rv.data[:3]]

    # account 1: open it from the list, hazard first, then read a normal value
    first_row = ui.wait_for(lambda: next((v for v in walk.ids.rv.children[0].children
                                          if v.account_no == order[0]), None), 5, "row drawn")
    touch(ui, first_row)
    account = ui.wait_screen("account")
    ui.wait_for(lambda: account.loaded, 10, "account loaded")
    ui.shot("account-1")
    ui.tap("read")
    reading = ui.wait_screen("reading")
    ui.wait_for(lambda: reading.loaded and reading.account_no == order[0], 10, "entry open")
    v1 = pick_value(ui.store, order[0], "ok")
    keyin(ui, v1)
    ui.shot("reading-1-keyed")
    ui.tap("save")
    ui.wait_for(lambda: reading.account_no == order[1] and reading.loaded, 10, "advanced to account 2")
    ui.shot("reading-2-open")

    # account 2: out of range → blind re-entry, the first value is not shown
    v2 = pick_value(ui.store, order[1], "reenter")
    keyin(ui, v2, enter=True)
    ui.wait_for(lambda: reading.awaiting == "reenter", 10, "blind re-entry asked")
    ui.shot("reading-2-reenter")
    assert reading.keyed == ""
    assert v2 not in reading.ids.display.text
    keyin(ui, v2, enter=True)
    ui.wait_for(lambda: reading.account_no == order[2] and reading.loaded, 10, "advanced to account 3")
    ui.shot("reading-3-open")

    # account 3: skipped with a code (S01 locked gate: no reading)
    ui.tap("skip_code")
    ui.pump(3)
    ui.shot("reading-3-skip-codes")
    touch(ui, popup_button("S01"))
    ui.wait_for(lambda: reading.skip_code == "S01" and not popup_open(), 5, "skip code chosen")
    ui.tap("save")
    ui.wait_for(lambda: reading.account_no not in order and reading.loaded, 10, "advanced to account 4")
    ui.shot("reading-4-open")

    # the walk list: filter on skipped, then move the skipped account after the next one
    ui.app.go("walk", route_id="R001")
    walk = ui.wait_screen("walk")
    ui.tap("f_skipped")
    ui.wait_for(lambda: [r["account_no"] for r in walk.ids.rv.data] == [order[2]], 10, "skipped filter")
    ui.shot("walk-skipped")
    ui.tap("f_all")
    ui.wait_for(lambda: len(walk.ids.rv.data) > 4 and walk.filter == "all", 10, "all accounts")
    after = walk.ids.rv.data[3]["account_no"]
    ui.tap("move")
    for account_no in (order[2], after):
        row = ui.wait_for(lambda: next((v for v in walk.ids.rv.children[0].children
                                        if v.account_no == account_no), None), 5, "row")
        touch(ui, row)
    ui.wait_for(lambda: [r["account_no"] for r in walk.ids.rv.data[2:4]] == [after, order[2]],
                10, "moved in the list")
    ui.shot("walk-moved")
    moved = ui.store.conn.execute(
        "SELECT a.account_no FROM accounts a LEFT JOIN walk_order w ON w.account_no=a.account_no "
        "WHERE a.route_id='R001' ORDER BY COALESCE(w.position, a.seq), a.account_no LIMIT 4").fetchall()
    assert [r[0] for r in moved] == [order[0], order[1], after, order[2]]

    ui.services.sync_now()
    rows = ui.wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(gateway.query(
        "SELECT account_no, status, value, skip_code, payload FROM readings WHERE device_id=?",
        (device_id,))), 30, "readings on the gateway")
    ui.shot("after-sync")
    got = {r["account_no"]: r for r in rows}
    assert set(got) == set(order)
    assert len(rows) == 3
    assert got[order[0]]["status"] == "read" and got[order[0]]["value"] == int(v1)
    assert got[order[1]]["status"] == "read" and got[order[1]]["value"] == int(v2)
    p2 = json.loads(got[order[1]]["payload"])
    assert p2["entries"] == [int(v2), int(v2)] and p2["reentry_ms"] is not None
    assert got[order[2]]["status"] == "skipped" and got[order[2]]["skip_code"] == "S01"
    assert got[order[2]]["value"] is None


def test_reader_corrects_a_reading_with_a_new_record(make_ui, gateway, ui_flows):
    ui = make_ui(gateway=gateway, enrol=True)
    assign(gateway, ui, "R001", "1001")
    ui_flows.login(ui, "1001", "1234", shot=False)
    ui_flows.download_route(ui, "R001")
    first = ui.store.conn.execute("SELECT account_no FROM accounts WHERE route_id='R001' "
                                  "ORDER BY seq LIMIT 1").fetchone()[0]
    values = []
    for attempt in range(2):
        account = ui.go("account", account_no=first, route_id="R001")
        ui.wait_for(lambda: account.loaded and account.account_no == first, 10, "account")
        ui.tap("read")
        reading = ui.wait_screen("reading")
        ui.wait_for(lambda: reading.loaded and reading.account_no == first, 10, "entry open")
        if attempt:
            assert reading.existing_text          # says it is already read and will be corrected
            ui.shot("correcting")
        value = str(int(pick_value(ui.store, first, "ok")) + attempt)
        keyin(ui, value)
        ui.tap("save")
        ui.wait_for(lambda: reading.account_no != first or reading.awaiting == "confirm", 10, "saved")
        if reading.awaiting == "confirm":          # a warning: the reader confirms the value
            ui.tap("confirm")
        ui.wait_for(lambda: reading.account_no != first, 10, "saved and advanced")
        values.append(int(value))
    rows = ui.store.conn.execute("SELECT op_id, value, corrects, superseded_by FROM readings "
                                 "WHERE account_no=? ORDER BY seq", (first,)).fetchall()
    assert [r["value"] for r in rows] == values
    assert rows[1]["corrects"] == rows[0]["op_id"] and rows[0]["superseded_by"] == rows[1]["op_id"]
    op = ui.store.conn.execute("SELECT payload FROM outbox WHERE op_id=?", (rows[1]["op_id"],)).fetchone()
    assert json.loads(op["payload"])["corrects"] == rows[0]["op_id"]
